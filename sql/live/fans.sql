-- live.fans: the fans the hot path touched (live.touched), as the marts will show them once the
-- real-time run has published: spend, latest purchase and price range from
-- intermediate/fan_money.sql over their transactions (marts.transactions here: the published
-- ones with those landed since), and the temperature of the fan profile's definition
-- (`last_activity`, `temperature`, sql/macros/lifecycle.sql) from his purchases as they stand
-- now and his last message, published or landed since. A fan the snapshot does not know yet (a
-- new subscriber) is named as the landed events name him.
WITH landed_messages AS (
    SELECT creator_id, fan_id, max(created_at) FILTER (WHERE is_from_fan) AS last_fan_message_at
    FROM live.landed_messages
    GROUP BY ALL
),
landed_names AS (
    SELECT creator_id, fan_id, arg_max(name, fetched_at) AS name,
           arg_max(username, fetched_at) AS username
    FROM live.landed_fans
    GROUP BY ALL
),
fans AS (
    SELECT
        t.creator_id,
        t.fan_id,
        coalesce(p.name, n.name)                                        AS name,
        coalesce(p.username, n.username)                                AS username,
        coalesce(m.lifetime_spend_cents, 0)                             AS lifetime_spend_cents,
        coalesce(m.purchase_count, 0)                                   AS purchase_count,
        m.last_purchase_at,
        m.last_purchase_type,
        m.last_purchase_cents,
        m.price_range,
        greatest(p.last_fan_message_at, l.last_fan_message_at)          AS last_fan_message_at,
        p.temperature                                                   AS published_temperature
    FROM live.touched AS t
    LEFT JOIN live.fan_money AS m USING (creator_id, fan_id)
    LEFT JOIN live.snapshot_fans AS p USING (creator_id, fan_id)
    LEFT JOIN landed_messages AS l USING (creator_id, fan_id)
    LEFT JOIN landed_names AS n USING (creator_id, fan_id)
)
SELECT
    * EXCLUDE (last_fan_message_at, published_temperature),
    last_activity(last_purchase_at, last_fan_message_at)                AS last_activity_at,
    temperature(last_activity(last_purchase_at, last_fan_message_at))  AS temperature,
    published_temperature
FROM fans
