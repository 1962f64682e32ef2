-- staging.subscription_periods: every paid or free subscription period of every fan: the
-- `subscribes` list of the fan's latest feed sighting, plus periods that `subscriptions.new` /
-- `.renewed` webhooks announced and the feed does not list yet. A free trial has price 0. Rows
-- staging.cast_rejects sets aside are left out (a feed row with a bad period never reaches
-- staging.fans); TRY_CAST turns a value it let through yet does not cast into NULL, for the
-- schema check to report, instead of failing the model.
WITH feed AS (
    SELECT
        creator_id,
        fan_id,
        unnest(from_json(
            subscribes,
            '[{"action": "VARCHAR", "date": "VARCHAR", "price": "VARCHAR",
               "regularPrice": "VARCHAR", "discount": "VARCHAR", "type": "VARCHAR"}]'
        )) AS period
    FROM staging.fans
    WHERE subscribes IS NOT NULL
),
feed_periods AS (
    SELECT
        creator_id,
        fan_id,
        period.action                                           AS action,
        TRY_CAST(period.date AS TIMESTAMPTZ)                    AS started_at,
        cents(TRY_CAST(period.price AS DECIMAL(18, 4)))         AS price_cents,
        cents(TRY_CAST(period.regularPrice AS DECIMAL(18, 4)))  AS regular_price_cents,
        TRY_CAST(coalesce(period.discount, '0') AS DOUBLE)      AS discount_percent,
        period.type                                             AS period_type
    FROM feed
),
webhook_rows AS (
    SELECT
        r.*,
        from_json(r.payload, '{
            "user": {"id": "VARCHAR"}, "subscribeAt": "VARCHAR", "price": "VARCHAR",
            "regularPrice": "VARCHAR", "discount": "VARCHAR"}') AS w
    FROM raw.webhook_events AS r
    ANTI JOIN staging.cast_rejects AS bad
        ON bad.source_table = 'webhook_events' AND bad.batch_id = r.batch_id
       AND bad.item_no = r.item_no
    WHERE r.event IN ('subscriptions.new', 'subscriptions.renewed')
),
webhook_periods AS (
    SELECT
        creator_id,
        TRY_CAST(w.user.id AS BIGINT)                               AS fan_id,
        CASE WHEN event = 'subscriptions.new' THEN 'subscribe' ELSE 'renew' END
                                                                    AS action,
        TRY_CAST(w.subscribeAt AS TIMESTAMPTZ)                      AS started_at,
        coalesce(cents(TRY_CAST(w.price AS DECIMAL(18, 4))), 0)     AS price_cents,
        cents(TRY_CAST(w.regularPrice AS DECIMAL(18, 4)))           AS regular_price_cents,
        TRY_CAST(coalesce(w.discount, '0') AS DOUBLE)               AS discount_percent,
        CAST(NULL AS VARCHAR)                                       AS period_type
    FROM webhook_rows
    WHERE w.user.id IS NOT NULL
      AND w.subscribeAt IS NOT NULL
    QUALIFY row_number() OVER (PARTITION BY fan_id, started_at ORDER BY event_id DESC) = 1
)
SELECT * FROM feed_periods
UNION ALL
SELECT * FROM webhook_periods AS w
WHERE NOT EXISTS (
    SELECT 1 FROM feed_periods AS f WHERE f.fan_id = w.fan_id AND f.started_at = w.started_at
)
