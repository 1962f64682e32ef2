-- intermediate.fan_engagement: one row per fan the creator knows of (listed as a subscriber,
-- paying, or chatting), with his engagement signals as of as_of() (fan-profile.md, Engagement
-- signals). Messages and purchases after as_of() are ignored. Thresholds: sql/macros/lifecycle.sql.
WITH fans AS (
    SELECT creator_id, fan_id FROM staging.fans
    UNION
    SELECT creator_id, fan_id FROM intermediate.fan_money  -- every fan with a transaction, among others
    UNION
    SELECT creator_id, fan_id FROM staging.chats
),
chat AS (
    -- Every message up to as_of(), with the seconds since the message before it in the same chat
    -- and whether that one was the fan's.
    SELECT
        creator_id,
        fan_id,
        is_from_fan,
        created_at,
        lag(is_from_fan) OVER in_order                                  AS previous_is_from_fan,
        seconds_between(lag(created_at) OVER in_order, created_at)     AS seconds_since_previous
    FROM staging.messages
    WHERE created_at <= as_of()
    WINDOW in_order AS (PARTITION BY creator_id, fan_id ORDER BY created_at, message_id)
),
messaging AS (
    SELECT
        creator_id,
        fan_id,
        max(created_at)                                                   AS last_message_at,
        max(created_at) FILTER (WHERE is_from_fan)                        AS last_fan_message_at,
        count(*) FILTER (WHERE is_from_fan)                               AS fan_message_count,
        count(*) FILTER (WHERE is_from_fan AND within_days(created_at, 30)) AS fan_messages_30d,
        -- A reply: a fan message right after one of the creator's, at most 24 hours later.
        CAST(round(avg(seconds_since_previous) FILTER (
            WHERE is_from_fan AND NOT previous_is_from_fan AND seconds_since_previous <= 86400
        )) AS BIGINT)                                                     AS avg_reply_time_s
    FROM chat
    GROUP BY ALL
),
hours AS (
    -- The fan's 3 busiest UTC hours: by message count, ties to the earlier hour.
    SELECT creator_id, fan_id, arg_max(hour, (messages, -hour), 3) AS active_hours
    FROM (
        SELECT creator_id, fan_id, utc_hour(created_at) AS hour, count(*) AS messages
        FROM chat
        WHERE is_from_fan
        GROUP BY ALL
    )
    GROUP BY ALL
),
signals AS (
    SELECT
        fans.creator_id,
        fans.fan_id,
        msg.last_message_at,
        msg.last_fan_message_at,
        coalesce(msg.fan_message_count, 0)                          AS fan_message_count,
        coalesce(h.active_hours, [])                                AS active_hours,
        msg.avg_reply_time_s,
        last_activity(money.last_purchase_at, msg.last_fan_message_at) AS last_activity_at,
        coalesce(money.lifetime_spend_cents, 0)                     AS lifetime_spend_cents,
        coalesce(msg.fan_messages_30d, 0)                           AS fan_messages_30d,
        coalesce(money.purchase_cents_30d, 0)                       AS purchase_cents_30d
    FROM fans
    LEFT JOIN messaging AS msg USING (creator_id, fan_id)
    LEFT JOIN hours AS h USING (creator_id, fan_id)
    LEFT JOIN intermediate.fan_money AS money USING (creator_id, fan_id)
),
scored AS (
    SELECT
        *,
        time_waster_score(fan_messages_30d, purchase_cents_30d) AS time_waster_score
    FROM signals
)
SELECT
    creator_id,
    fan_id,
    last_message_at,
    last_fan_message_at,
    fan_message_count,
    active_hours,
    avg_reply_time_s,
    last_activity_at,
    temperature(last_activity_at)                              AS temperature,
    spend_tier(lifetime_spend_cents)                           AS spend_tier,
    fan_messages_30d,
    purchase_cents_30d,
    time_waster_score,
    CASE WHEN time_waster_score >= deprioritize_score() AND lifetime_spend_cents = 0
        THEN as_of() + to_days(deprioritize_days())
    END                                                        AS deprioritized_until
FROM scored
