-- marts.transactions: the money truth, one row per transaction created at or before as_of(),
-- with its status as of that instant (a chargeback that happened later is not yet applied).
-- A purchase is a succeeded transaction with a positive amount.
WITH as_of_status AS (
    SELECT
        *,
        CASE
            WHEN status = 'chargeback' AND chargeback_at > as_of() THEN status_before_chargeback
            ELSE status
        END AS status_as_of
    FROM staging.transactions
    WHERE created_at <= as_of()
)
SELECT
    creator_id,
    transaction_id,
    fan_id,
    created_at,
    type,
    status_as_of                                         AS status,
    status_as_of = 'succeeded' AND amount_cents > 0      AS is_purchase,
    is_custom,
    amount_cents,
    net_cents,
    fee_cents,
    vat_cents,
    currency,
    CASE WHEN status_as_of = 'chargeback' THEN chargeback_at END AS chargeback_at,
    description,
    as_of()                                              AS as_of
FROM as_of_status
