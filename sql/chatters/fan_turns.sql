-- chatters.fan_turns: one row per fan turn, i.e. a fan message whose previous personal message in
-- the chat is not his own (a run of fan messages waits from its first one). Mass messages are
-- neither an answer nor a break in a turn. The turn belongs to the shift it starts in.
-- * answer: the next personal creator message in that chat (by time, then id); `answered_in_shift`
--   when it comes before the turn's shift ends; `answer_s` its delay in seconds.
-- * `left_waiting`: the fan waited more than `chatter_wait_minutes` (60) for the answer, or has
--   had none for that long at as_of().
WITH personal AS (
    SELECT
        *,
        row_number() OVER w                 AS seq,
        lag(is_from_fan) OVER w             AS prev_from_fan
    FROM chatters.message_attribution
    WHERE NOT is_mass_message
    WINDOW w AS (PARTITION BY fan_id ORDER BY created_at, message_id)
),
turns AS (
    SELECT * FROM personal WHERE is_from_fan AND NOT coalesce(prev_from_fan, false)
),
answers AS (
    SELECT fan_id, seq, created_at AS answer_at, message_id AS answer_message_id
    FROM personal
    WHERE NOT is_from_fan
)
SELECT
    t.fan_id,
    t.message_id                                                AS turn_message_id,
    t.created_at                                                AS turn_at,
    t.day,
    t.chatter,
    t.shift_id,
    t.attribution,
    a.answer_at,
    a.answer_message_id,
    epoch(a.answer_at - t.created_at)                           AS answer_s,
    a.answer_at IS NOT NULL AND a.answer_at < s.end_at          AS answered_in_shift,
    coalesce(a.answer_at, as_of()) - t.created_at
        > to_minutes(CAST(getvariable('chatter_wait_minutes') AS BIGINT)) AS left_waiting
FROM turns t
ASOF LEFT JOIN answers a ON t.fan_id = a.fan_id AND t.seq < a.seq
LEFT JOIN chatters.shifts s ON s.shift_id = t.shift_id
