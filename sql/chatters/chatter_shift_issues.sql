-- marts.chatter_shift_issues: what attribution could not decide, reported and never guessed.
-- * `overlap`: two shifts of the creator with different chatters intersect; over [start_at,
--   end_at) messages and PPV unlocks are credited to no one (counted here).
-- * `self_overlap`: two shifts of the same chatter intersect; his messages there are credited once,
--   to the earlier shift.
-- * `gap`: personal creator messages (and PPV unlocks) in no shift, grouped by the gap between
--   shifts they fall in: start_at = the end of the shift before (null: before the first shift),
--   end_at = the start of the next (null: after the last).
-- * `invalid_shift`: a shift entry of the file or the landing store that failed validation
--   (`detail` names the file and line, or the row); it is left out of attribution.
WITH shift_pairs AS (
    SELECT
        a.shift_id, b.shift_id AS other_shift_id, a.chatter, b.chatter AS other_chatter,
        greatest(a.start_at, b.start_at) AS start_at, least(a.end_at, b.end_at) AS end_at
    FROM chatters.shifts a
    JOIN chatters.shifts b
      ON (a.start_at < b.start_at OR (a.start_at = b.start_at AND a.shift_id < b.shift_id))
     AND b.start_at < a.end_at
),
overlap_messages AS (
    SELECT
        o.shift_id, o.other_shift_id,
        count(m.message_id)                                         AS message_count,
        count(DISTINCT m.fan_id)                                    AS fan_count,
        min(m.created_at)                                           AS first_event_at,
        max(m.created_at)                                           AS last_event_at,
        list(m.message_id ORDER BY m.created_at, m.message_id)[1:10] AS example_message_ids
    FROM shift_pairs o
    JOIN chatters.message_attribution m
      ON m.created_at >= o.start_at AND m.created_at < o.end_at
     AND NOT m.is_from_fan AND NOT m.is_mass_message
    GROUP BY o.shift_id, o.other_shift_id
),
overlap_purchases AS (
    SELECT
        o.shift_id, o.other_shift_id,
        count(*)                                                    AS purchase_count,
        sum(p.amount_cents)                                         AS purchase_cents
    FROM shift_pairs o
    JOIN chatters.purchase_attribution p
      ON p.created_at >= o.start_at AND p.created_at < o.end_at AND p.type = 'message'
    GROUP BY o.shift_id, o.other_shift_id
),
gap_events AS (
    SELECT fan_id, message_id, created_at, 0 AS amount_cents, true AS is_message
    FROM chatters.message_attribution
    WHERE attribution = 'gap' AND NOT is_from_fan AND NOT is_mass_message
    UNION ALL
    SELECT fan_id, NULL, created_at, amount_cents, false
    FROM chatters.purchase_attribution
    WHERE attribution = 'gap' AND type = 'message'
),
bounded AS (
    SELECT e.*, prev_shift.end_at AS gap_start, next_shift.start_at AS gap_end
    FROM gap_events e
    ASOF LEFT JOIN (SELECT end_at FROM chatters.shifts) prev_shift ON e.created_at >= prev_shift.end_at
    ASOF LEFT JOIN (SELECT start_at FROM chatters.shifts) next_shift ON e.created_at < next_shift.start_at
),
gaps AS (
    SELECT
        gap_start, gap_end,
        count(*) FILTER (WHERE is_message)                          AS message_count,
        count(*) FILTER (WHERE NOT is_message)                      AS purchase_count,
        sum(amount_cents) FILTER (WHERE NOT is_message)             AS purchase_cents,
        count(DISTINCT fan_id) FILTER (WHERE is_message)            AS fan_count,
        min(created_at)                                             AS first_event_at,
        max(created_at)                                             AS last_event_at,
        list(message_id ORDER BY created_at, message_id) FILTER (WHERE is_message)
                                                                    AS message_ids
    FROM bounded
    GROUP BY gap_start, gap_end
)
SELECT
    getvariable('creator_id')                                       AS creator_id,
    CASE WHEN o.chatter = o.other_chatter THEN 'self_overlap' ELSE 'overlap' END AS kind,
    o.chatter,
    o.other_chatter,
    o.shift_id,
    o.other_shift_id,
    o.start_at,
    o.end_at,
    coalesce(m.message_count, 0)                                    AS message_count,
    coalesce(p.purchase_count, 0)                                   AS purchase_count,
    CAST(coalesce(p.purchase_cents, 0) AS BIGINT)                   AS purchase_cents,
    coalesce(m.fan_count, 0)                                        AS fan_count,
    m.first_event_at,
    m.last_event_at,
    coalesce(m.example_message_ids, [])                             AS example_message_ids,
    CASE WHEN o.chatter = o.other_chatter
         THEN 'shifts of the same chatter intersect; credited to the earlier one'
         ELSE 'two chatters on shift at once; messages and unlocks here are credited to no one'
    END                                                             AS detail,
    as_of()                                                         AS as_of
FROM shift_pairs o
LEFT JOIN overlap_messages m USING (shift_id, other_shift_id)
LEFT JOIN overlap_purchases p USING (shift_id, other_shift_id)
UNION ALL
SELECT
    getvariable('creator_id'), 'gap', NULL, NULL, NULL, NULL, gap_start, gap_end,
    message_count, purchase_count, CAST(coalesce(purchase_cents, 0) AS BIGINT), fan_count,
    first_event_at, last_event_at, coalesce(message_ids[1:10], []),
    CASE WHEN gap_start IS NULL AND gap_end IS NULL THEN 'no shift covers this creator'
         ELSE 'creator messages in no shift; credited to no one' END,
    as_of()
FROM gaps
UNION ALL
SELECT
    getvariable('creator_id'), 'invalid_shift', NULL, NULL, NULL, NULL, NULL, NULL,
    0, 0, 0, 0, NULL, NULL, [], source || ': ' || error, as_of()
FROM chatters.shift_problems
