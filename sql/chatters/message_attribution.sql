-- chatters.message_attribution: every chat message at or before as_of(), either side, with the
-- shift it falls in. A message at t is in shift [start_at, end_at) when start_at <= t < end_at.
-- With one chatter on shift it is attributed to him (to the earliest-starting of his shifts when
-- two of his own overlap): `attribution` = 'shift'. With two or more chatters on shift at once it
-- is 'overlap' and with none 'gap': attributed to no one, reported in chatter_shift_issues.
-- Mass messages (a queue send) are attributed by time too, but no KPI counts them as written.
-- `chatter_since` (unset: all history) limits the messages read, for QA's few days.
WITH messages AS (
    SELECT
        fan_id,
        message_id,
        coalesce(is_from_fan, false)        AS is_from_fan,
        created_at,
        coalesce(price_cents, 0)            AS price_cents,
        coalesce(is_mass_message, false)    AS is_mass_message
    FROM staging.messages
    WHERE created_at <= as_of()
      AND created_at >= coalesce(CAST(getvariable('chatter_since') AS TIMESTAMPTZ), '-infinity')
)
SELECT
    m.*,
    CAST(m.created_at AS DATE)                                  AS day,
    CASE WHEN m.created_at < g.seg_end AND g.chatters = 1 THEN g.chatter END AS chatter,
    CASE WHEN m.created_at < g.seg_end AND g.chatters = 1 THEN g.shift_id END AS shift_id,
    CASE WHEN g.seg_end IS NULL OR m.created_at >= g.seg_end THEN 'gap'
         WHEN g.chatters = 1 THEN 'shift'
         ELSE 'overlap' END                                     AS attribution
FROM messages m
ASOF LEFT JOIN chatters.shift_segments g ON m.created_at >= g.seg_start
