-- chatters.shift_segments: the creator's timeline cut at every shift start and end, one row per
-- piece that some shift covers: [seg_start, seg_end), how many chatters are on shift in it, and
-- (when one) who and which of his shifts (the earliest-starting, when two of his own overlap).
-- Messages and purchases find their piece with an ASOF join (sort-merge, one match each) instead
-- of a range join against every shift.
WITH bounds AS (
    SELECT start_at AS bound FROM chatters.shifts
    UNION
    SELECT end_at FROM chatters.shifts
),
pieces AS (
    SELECT bound AS seg_start, lead(bound) OVER (ORDER BY bound) AS seg_end
    FROM bounds
)
SELECT
    p.seg_start,
    p.seg_end,
    count(DISTINCT s.chatter)                               AS chatters,
    min(s.chatter)                                          AS chatter,
    arg_min(s.shift_id, (s.start_at, s.shift_id))           AS shift_id
FROM pieces p
JOIN chatters.shifts s ON s.start_at <= p.seg_start AND p.seg_start < s.end_at
WHERE p.seg_end IS NOT NULL
GROUP BY p.seg_start, p.seg_end
