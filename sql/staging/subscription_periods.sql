-- staging.subscription_periods: every paid or free subscription period of every fan
-- (the `subscribes` list of the fan's latest sighting). A free trial has price 0.
WITH periods AS (
    SELECT
        creator_id,
        fan_id,
        unnest(from_json(
            subscribes,
            '[{"action": "VARCHAR", "date": "VARCHAR", "price": "VARCHAR",
               "regularPrice": "VARCHAR", "discount": "VARCHAR", "type": "VARCHAR"}]'
        )) AS period
    FROM staging.fans
)
SELECT
    creator_id,
    fan_id,
    period.action                                   AS action,
    CAST(period.date AS TIMESTAMPTZ)                AS started_at,
    cents(period.price)                             AS price_cents,
    cents(period.regularPrice)                      AS regular_price_cents,
    CAST(coalesce(period.discount, '0') AS DOUBLE)  AS discount_percent,
    period.type                                     AS period_type
FROM periods
