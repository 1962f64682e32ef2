-- marts.transactions: the money truth, one row per transaction created at or before as_of(),
-- with its status as of that instant (a chargeback that happened later is not yet applied).
-- A purchase is a succeeded transaction with a positive amount. Same columns as
-- staging.transactions: when as_of() is at or after everything staged (every run not pinned in
-- the past) the mart is the staged table itself, its file linked rather than rewritten and the
-- transactions merged since it was written added beside it (defs/marts/money.py).
SELECT
    * REPLACE (
        CASE WHEN chargeback_at > as_of() THEN status_before_chargeback ELSE status END AS status,
        CASE WHEN chargeback_at <= as_of() THEN chargeback_at END                      AS chargeback_at,
        CASE WHEN chargeback_at > as_of() THEN status_before_chargeback = 'succeeded'
             ELSE status = 'succeeded' END AND amount_cents > 0                         AS is_purchase
    )
FROM staging.transactions
WHERE created_at <= as_of()
