-- marts.chatter_shift_performance: one row per shift started at or before as_of(), with what its
-- chatter did in it (chatters.message_attribution, purchase_attribution, fan_turns):
-- messages sent (personal creator messages; mass sends apart), PPV offered (priced personal
-- messages), PPV unlocked and PPV revenue (purchases of type `message` during the shift), tips
-- credited through the shift's messages, and answer times of the fan turns started in the shift.
WITH shifts AS (
    SELECT * FROM chatters.shifts WHERE start_at <= as_of()
),
sent AS (
    SELECT
        shift_id,
        count(*) FILTER (WHERE NOT is_mass_message)                         AS messages_sent,
        count(*) FILTER (WHERE is_mass_message)                             AS mass_messages_sent,
        count(DISTINCT fan_id) FILTER (WHERE NOT is_mass_message)           AS fans_messaged,
        count(*) FILTER (WHERE NOT is_mass_message AND price_cents > 0)     AS ppv_offered
    FROM chatters.message_attribution
    WHERE NOT is_from_fan AND shift_id IS NOT NULL
    GROUP BY shift_id
),
bought AS (
    SELECT
        shift_id,
        count(*) FILTER (WHERE type = 'message')                            AS ppv_unlocked,
        sum(amount_cents) FILTER (WHERE type = 'message')                   AS ppv_revenue_cents,
        count(*) FILTER (WHERE type = 'tip')                                AS tips,
        sum(amount_cents) FILTER (WHERE type = 'tip')                       AS tip_revenue_cents
    FROM chatters.purchase_attribution
    WHERE is_chatter_revenue AND shift_id IS NOT NULL
    GROUP BY shift_id
),
turns AS (
    SELECT
        shift_id,
        count(*)                                                            AS fan_turns,
        count(*) FILTER (WHERE answered_in_shift)                           AS turns_answered,
        quantile_cont(answer_s, 0.5) FILTER (WHERE answered_in_shift)       AS median_answer_s,
        quantile_cont(answer_s, 0.9) FILTER (WHERE answered_in_shift)       AS p90_answer_s,
        count(DISTINCT fan_id) FILTER (WHERE answered_in_shift)             AS fans_answered,
        count(DISTINCT fan_id) FILTER (WHERE left_waiting)                  AS fans_left_waiting
    FROM chatters.fan_turns
    WHERE shift_id IS NOT NULL
    GROUP BY shift_id
)
SELECT
    s.creator_id,
    s.shift_id,
    s.chatter,
    s.start_at,
    s.end_at,
    s.end_at > as_of()                                                      AS in_progress,
    round(epoch(least(s.end_at, as_of()) - s.start_at) / 3600, 2)           AS shift_hours,
    unnest(chatters.kpi_columns(sent, bought, turns)),  -- sql/chatters/kpi_columns.sql
    s.source,
    as_of()                                                                 AS as_of
FROM shifts s
LEFT JOIN sent USING (shift_id)
LEFT JOIN bought USING (shift_id)
LEFT JOIN turns USING (shift_id)
