-- marts.transactions is staging.transactions as of as_of(): every staged transaction created at
-- or before as_of() is in the mart with the same amounts, and the mart holds no other. One row
-- per transaction that is missing, extra, or differs.
WITH staged AS (
    SELECT transaction_id, created_at, amount_cents, net_cents
    FROM staging.transactions
    WHERE created_at <= as_of()
),
mart AS (
    SELECT transaction_id, created_at, amount_cents, net_cents
    FROM marts.transactions
)
SELECT
    transaction_id,
    coalesce(m.created_at, s.created_at)                       AS created_at,
    m.amount_cents                                             AS mart_amount_cents,
    s.amount_cents                                             AS staged_amount_cents,
    m.net_cents                                                AS mart_net_cents,
    s.net_cents                                                AS staged_net_cents,
    CASE WHEN m.transaction_id IS NULL THEN 'staged as of as_of, missing from the mart'
         WHEN s.transaction_id IS NULL THEN 'in the mart, not staged as of as_of'
         ELSE 'amounts differ from staging' END                AS detail
FROM mart AS m
FULL JOIN staged AS s USING (transaction_id)
WHERE m.transaction_id IS NULL
   OR s.transaction_id IS NULL
   OR m.amount_cents IS DISTINCT FROM s.amount_cents
   OR m.net_cents IS DISTINCT FROM s.net_cents
