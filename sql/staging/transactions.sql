-- staging.transactions: one row per transaction id. Sightings come from the transactions feed,
-- the payments inside chargebacks and `transactions.new` webhooks; the latest sighting wins (a
-- later status replaces an earlier one), so a purchase seen both ways counts once, and a
-- chargeback marks its payment as a chargeback as of the chargeback's time.
WITH sightings AS (
    SELECT payload::JSON AS t, creator_id, fetched_at, 0 AS source_rank, batch_id, item_no
    FROM raw.transactions
    UNION ALL
    SELECT payload::JSON -> '$.payment', creator_id, fetched_at, 1, batch_id, item_no
    FROM raw.chargebacks
    UNION ALL
    SELECT payload::JSON, creator_id, fetched_at, 2, batch_id, item_no
    FROM raw.webhook_events
    WHERE event = 'transactions.new'
),
latest AS (
    SELECT *
    FROM sightings
    QUALIFY row_number() OVER (
        PARTITION BY t ->> '$.id'
        ORDER BY fetched_at DESC, source_rank, batch_id DESC, item_no DESC
    ) = 1
),
chargebacks AS (
    SELECT
        payload ->> '$.payment.id'                       AS transaction_id,
        min(CAST(payload ->> '$.createdAt' AS TIMESTAMPTZ)) AS chargeback_at
    FROM raw.chargebacks
    GROUP BY ALL
),
typed AS (
    SELECT
        creator_id,
        t ->> '$.id'                                                        AS transaction_id,
        CAST(coalesce(t ->> '$.user.id', t ->> '$.fan.id') AS BIGINT)       AS fan_id,
        CAST(coalesce(t ->> '$.createdAt', t ->> '$.created_at') AS TIMESTAMPTZ) AS created_at,
        cents(t ->> '$.amount')                                             AS amount_cents,
        cents(coalesce(t ->> '$.net', t ->> '$.net_amount'))                AS net_cents,
        cents(coalesce(t ->> '$.fee', t ->> '$.fee_amount'))                AS fee_cents,
        cents(coalesce(t ->> '$.vatAmount', '0'))                           AS vat_cents,
        coalesce(t ->> '$.currency', 'USD')                                 AS currency,
        strip_html(t ->> '$.description')                                   AS description,
        transaction_type(t ->> '$.type', strip_html(t ->> '$.description')) AS type,
        transaction_status(t ->> '$.status')                                AS feed_status
    FROM latest
)
SELECT
    typed.creator_id,
    typed.transaction_id,
    typed.fan_id,
    typed.created_at,
    typed.type,
    CASE WHEN cb.chargeback_at IS NOT NULL THEN 'chargeback' ELSE typed.feed_status END AS status,
    -- What the status was before a chargeback: lets marts show the status as of any time.
    CASE WHEN typed.feed_status = 'chargeback' THEN 'succeeded' ELSE typed.feed_status END
                                                                         AS status_before_chargeback,
    cb.chargeback_at,
    typed.amount_cents,
    typed.net_cents,
    typed.fee_cents,
    typed.vat_cents,
    typed.currency,
    typed.description,
    typed.description ILIKE '%custom%'                                   AS is_custom,
    -- A purchase is a succeeded transaction with a positive amount.
    status = 'succeeded' AND typed.amount_cents > 0                      AS is_purchase
FROM typed
LEFT JOIN chargebacks AS cb USING (transaction_id)
