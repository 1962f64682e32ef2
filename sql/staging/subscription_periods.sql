-- staging.subscription_periods: every paid or free subscription period of every fan: the
-- `subscribes` list of the fan's latest feed sighting, plus periods that `subscriptions.new` /
-- `.renewed` webhooks announced and the feed does not list yet. A free trial has price 0.
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
        period.action                                   AS action,
        CAST(period.date AS TIMESTAMPTZ)                AS started_at,
        cents(period.price)                             AS price_cents,
        cents(period.regularPrice)                      AS regular_price_cents,
        CAST(coalesce(period.discount, '0') AS DOUBLE)  AS discount_percent,
        period.type                                     AS period_type
    FROM feed
),
webhook_periods AS (
    SELECT
        creator_id,
        CAST(payload ->> '$.user.id' AS BIGINT)                                   AS fan_id,
        CASE WHEN event = 'subscriptions.new' THEN 'subscribe' ELSE 'renew' END  AS action,
        CAST(payload ->> '$.subscribeAt' AS TIMESTAMPTZ)                          AS started_at,
        coalesce(cents(payload ->> '$.price'), 0)                                 AS price_cents,
        cents(payload ->> '$.regularPrice')                                       AS regular_price_cents,
        CAST(coalesce(payload ->> '$.discount', '0') AS DOUBLE)                   AS discount_percent,
        CAST(NULL AS VARCHAR)                                                     AS period_type
    FROM raw.webhook_events
    WHERE event IN ('subscriptions.new', 'subscriptions.renewed')
      AND (payload ->> '$.user.id') IS NOT NULL
      AND (payload ->> '$.subscribeAt') IS NOT NULL
    QUALIFY row_number() OVER (PARTITION BY fan_id, started_at ORDER BY event_id DESC) = 1
)
SELECT * FROM feed_periods
UNION ALL
SELECT * FROM webhook_periods AS w
WHERE NOT EXISTS (
    SELECT 1 FROM feed_periods AS f WHERE f.fan_id = w.fan_id AND f.started_at = w.started_at
)
