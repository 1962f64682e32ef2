-- staging.transactions: one row per transaction id. Sightings come from the transactions feed,
-- the payments inside chargebacks and `transactions.new` webhooks, less the rows
-- staging.cast_rejects sets aside (a value that does not cast); a purchase seen both ways counts
-- once. A status only moves forward, pending → succeeded → refunded → chargeback (a step may be
-- skipped): of all sightings, in whatever order they arrived, the most advanced status stands. A
-- sighting that arrives after a more advanced one (an old `done` delivery replayed after the
-- refund) changes nothing and is counted in `status_regressions`. Every other field comes from
-- the latest sighting. A chargeback marks its payment as a chargeback as of the chargeback's time.
WITH sightings AS (
    SELECT 'transactions' AS source_table, batch_id, item_no, creator_id, fetched_at,
           0 AS source_rank, payload AS transaction, NULL AS chargeback_created_at
    FROM raw.transactions
    UNION ALL
    -- The payment as text, like the other sightings: a JSON-typed one would make the union
    -- cast every payload to JSON, parsing each once more (2 s at 10M transactions).
    SELECT 'chargebacks', batch_id, item_no, creator_id, fetched_at, 1,
           CAST(payload -> '$.payment' AS VARCHAR), payload ->> '$.createdAt'
    FROM raw.chargebacks
    UNION ALL
    SELECT 'webhook_events', batch_id, item_no, creator_id, fetched_at, 2, payload, NULL
    FROM raw.webhook_events
    WHERE event = 'transactions.new'
),
parsed AS (
    -- Each sighting parsed once, every field as text, as staging.cast_rejects checked it.
    SELECT
        s.* EXCLUDE (transaction),
        from_json(s.transaction, '{
            "id": "VARCHAR", "user": {"id": "VARCHAR"}, "fan": {"id": "VARCHAR"},
            "createdAt": "VARCHAR", "created_at": "VARCHAR", "amount": "VARCHAR",
            "net": "VARCHAR", "net_amount": "VARCHAR", "fee": "VARCHAR", "fee_amount": "VARCHAR",
            "vatAmount": "VARCHAR", "currency": "VARCHAR", "description": "VARCHAR",
            "type": "VARCHAR", "status": "VARCHAR"}') AS t
    FROM sightings AS s
    ANTI JOIN staging.cast_rejects AS bad
        ON bad.source_table = s.source_table AND bad.batch_id = s.batch_id
       AND bad.item_no = s.item_no
),
typed AS (
    -- TRY_CAST: a value staging.cast_rejects let through always casts; should one not, the
    -- staged row shows NULL and the schema check says so, rather than the model failing.
    SELECT
        t.id                                                                AS transaction_id,
        creator_id,
        TRY_CAST(coalesce(t.user.id, t.fan.id) AS BIGINT)                   AS fan_id,
        TRY_CAST(coalesce(t.createdAt, t.created_at) AS TIMESTAMPTZ)        AS created_at,
        cents(TRY_CAST(t.amount AS DECIMAL(18, 4)))                         AS amount_cents,
        cents(TRY_CAST(coalesce(t.net, t.net_amount) AS DECIMAL(18, 4)))    AS net_cents,
        cents(TRY_CAST(coalesce(t.fee, t.fee_amount) AS DECIMAL(18, 4)))    AS fee_cents,
        cents(TRY_CAST(coalesce(t.vatAmount, '0') AS DECIMAL(18, 4)))       AS vat_cents,
        coalesce(t.currency, 'USD')                                         AS currency,
        t.type                                                              AS explicit_type,
        t.description                                                       AS description,
        -- Statuses by how far forward they are: 1 pending, 2 succeeded, 3 refunded,
        -- 4 chargeback, and 0 for a status word the contract does not know, which so never
        -- replaces a known one. A chargeback's own row says chargeback; the payment inside it
        -- says what the payment was before.
        coalesce(list_position(['pending', 'succeeded', 'refunded', 'chargeback'],
                               transaction_status(t.status)), 0)            AS payment_rank,
        CASE WHEN source_table = 'chargebacks' THEN 4 ELSE payment_rank END AS status_rank,
        TRY_CAST(chargeback_created_at AS TIMESTAMPTZ)                      AS chargeback_at,
        fetched_at,
        source_rank,
        batch_id,
        item_no
    FROM parsed
),
transactions AS (
    -- The latest sighting of each transaction (every field of it), with what all its sightings
    -- say together: at the latest sighting, the frame from the first one holds them all, so one
    -- sort serves both and no group-by follows it.
    SELECT
        * EXCLUDE (chargeback_at),
        max(status_rank) OVER so_far                                    AS final_rank,
        max(payment_rank) FILTER (WHERE payment_rank < 4) OVER so_far   AS rank_before_chargeback,
        min(chargeback_at) OVER so_far                                  AS chargeback_at,
        -- Every sighting's status, in the order they arrived.
        list(status_rank) OVER so_far                                   AS ranks
    FROM typed
    -- The order sightings arrived in: by fetch time; at the same instant the feed counts as the
    -- later one, then a chargeback, then a webhook.
    WINDOW arrival AS (PARTITION BY transaction_id
                       ORDER BY fetched_at, -source_rank, batch_id, item_no),
           so_far AS (arrival ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
    QUALIFY lead(true) OVER arrival IS NULL  -- no sighting arrived after it
),
described AS (
    -- What a description says, worked out once per distinct (type, description): stripping
    -- HTML and matching words costs per row, and descriptions repeat (a fan's tips read alike).
    SELECT
        explicit_type,
        sent_description,
        description,
        transaction_type(explicit_type, description)                    AS type,
        description ILIKE '%custom%'                                    AS is_custom
    FROM (
        SELECT explicit_type, description AS sent_description, strip_html(description) AS description
        FROM (SELECT DISTINCT explicit_type, description FROM transactions)
    )
)
SELECT
    creator_id,
    transaction_id,
    fan_id,
    created_at,
    d.type,
    ['unknown', 'pending', 'succeeded', 'refunded', 'chargeback'][final_rank + 1]  AS status,
    -- What the status was before a chargeback (the most advanced short of it; succeeded when
    -- every sighting said chargeback): lets marts show the status as of any time.
    ['unknown', 'pending', 'succeeded', 'refunded'][coalesce(rank_before_chargeback, 2) + 1]
                                                                    AS status_before_chargeback,
    chargeback_at,
    amount_cents,
    net_cents,
    fee_cents,
    vat_cents,
    currency,
    d.description,
    d.is_custom,
    -- A purchase is a succeeded transaction with a positive amount.
    status = 'succeeded' AND amount_cents > 0                            AS is_purchase,
    -- Sightings whose status is behind the most advanced one that arrived before them.
    len(list_filter(generate_series(2, len(ranks)),
                    i -> ranks[i] < list_max(ranks[1:i - 1])))          AS status_regressions
FROM transactions AS t
JOIN described AS d
    ON d.explicit_type IS NOT DISTINCT FROM t.explicit_type
   AND d.sent_description IS NOT DISTINCT FROM t.description
