-- marts.chatter_performance_daily: one row per chatter and UTC day, for every day one of his shifts
-- covers up to as_of() and every day something is credited to him (a tip after the shift ends).
-- Events count on their own day: messages and purchases when they happened, fan turns when they
-- started. Metrics as in chatter_shift_performance; medians and p90 over the day's turns.
WITH shift_days AS (
    SELECT
        chatter,
        shift_id,
        CAST(d AS DATE)                                                     AS day,
        epoch(least(end_at, as_of(), CAST(d AS TIMESTAMPTZ) + INTERVAL 1 DAY)
              - greatest(start_at, CAST(d AS TIMESTAMPTZ)))                 AS seconds
    FROM (
        SELECT *, unnest(generate_series(
            CAST(start_at AS DATE),
            CAST(least(end_at, as_of()) - INTERVAL 1 MICROSECOND AS DATE),
            INTERVAL 1 DAY)) AS d
        FROM chatters.shifts
        WHERE start_at <= as_of()
    )
),
on_shift AS (
    SELECT
        chatter,
        day,
        count(DISTINCT shift_id)                                            AS shifts,
        sum(seconds)                                                        AS seconds
    FROM shift_days
    GROUP BY chatter, day
),
sent AS (
    SELECT
        chatter,
        day,
        count(*) FILTER (WHERE NOT is_mass_message)                         AS messages_sent,
        count(*) FILTER (WHERE is_mass_message)                             AS mass_messages_sent,
        count(DISTINCT fan_id) FILTER (WHERE NOT is_mass_message)           AS fans_messaged,
        count(*) FILTER (WHERE NOT is_mass_message AND price_cents > 0)     AS ppv_offered
    FROM chatters.message_attribution
    WHERE NOT is_from_fan AND chatter IS NOT NULL
    GROUP BY chatter, day
),
bought AS (
    SELECT
        chatter,
        day,
        count(*) FILTER (WHERE type = 'message')                            AS ppv_unlocked,
        sum(amount_cents) FILTER (WHERE type = 'message')                   AS ppv_revenue_cents,
        count(*) FILTER (WHERE type = 'tip')                                AS tips,
        sum(amount_cents) FILTER (WHERE type = 'tip')                       AS tip_revenue_cents
    FROM chatters.purchase_attribution
    WHERE is_chatter_revenue AND chatter IS NOT NULL
    GROUP BY chatter, day
),
turns AS (
    SELECT
        chatter,
        day,
        count(*)                                                            AS fan_turns,
        count(*) FILTER (WHERE answered_in_shift)                           AS turns_answered,
        quantile_cont(answer_s, 0.5) FILTER (WHERE answered_in_shift)       AS median_answer_s,
        quantile_cont(answer_s, 0.9) FILTER (WHERE answered_in_shift)       AS p90_answer_s,
        count(DISTINCT fan_id) FILTER (WHERE answered_in_shift)             AS fans_answered,
        count(DISTINCT fan_id) FILTER (WHERE left_waiting)                  AS fans_left_waiting
    FROM chatters.fan_turns
    WHERE chatter IS NOT NULL
    GROUP BY chatter, day
),
chatter_days AS (
    SELECT chatter, day FROM on_shift
    UNION SELECT chatter, day FROM sent
    UNION SELECT chatter, day FROM bought
    UNION SELECT chatter, day FROM turns
)
SELECT
    getvariable('creator_id')                                               AS creator_id,
    k.day,
    k.chatter,
    coalesce(on_shift.shifts, 0)                                            AS shifts,
    round(coalesce(on_shift.seconds, 0) / 3600, 2)                          AS shift_hours,
    unnest(chatters.kpi_columns(sent, bought, turns)),  -- sql/chatters/kpi_columns.sql
    as_of()                                                                 AS as_of
FROM chatter_days k
LEFT JOIN on_shift USING (chatter, day)
LEFT JOIN sent USING (chatter, day)
LEFT JOIN bought USING (chatter, day)
LEFT JOIN turns USING (chatter, day)
