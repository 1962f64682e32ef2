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
recent AS (
    -- His messages in the 30 days before as_of(). The window moves with as_of() alone, so it is
    -- counted here; every figure of his whole chat comes from intermediate.fan_chat.
    SELECT creator_id, fan_id, count(*) AS fan_messages_30d
    FROM staging.messages
    WHERE is_from_fan AND created_at <= as_of() AND within_days(created_at, 30)
    GROUP BY ALL
),
signals AS (
    SELECT
        fans.creator_id,
        fans.fan_id,
        msg.last_message_at,
        msg.last_fan_message_at,
        coalesce(msg.fan_message_count, 0)                          AS fan_message_count,
        coalesce(msg.active_hours, [])                              AS active_hours,
        -- His mean reply time in whole seconds; none without a reply.
        CAST(round(CAST(msg.reply_us AS DOUBLE) / (nullif(msg.replies, 0) * 1000000)) AS BIGINT)
                                                                    AS avg_reply_time_s,
        last_activity(money.last_purchase_at, msg.last_fan_message_at) AS last_activity_at,
        coalesce(money.lifetime_spend_cents, 0)                     AS lifetime_spend_cents,
        coalesce(recent.fan_messages_30d, 0)                        AS fan_messages_30d,
        coalesce(money.purchase_cents_30d, 0)                       AS purchase_cents_30d
    FROM fans
    LEFT JOIN intermediate.fan_chat AS msg USING (creator_id, fan_id)
    LEFT JOIN recent USING (creator_id, fan_id)
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
