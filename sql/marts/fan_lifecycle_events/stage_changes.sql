-- The stage changes an evaluation at as_of() records: every fan whose stage now differs from the
-- latest one recorded for him at or before as_of() (or who has none recorded yet). A change is
-- dated as_of(): the instant it was first seen. A fan's first stage is dated when he entered it
-- as his history tells it (fan_stage.stage_since, at or before as_of()): that is his
-- stage_updated_at until his stage changes. Evaluating the same as_of() again finds nothing.
WITH recorded AS (
    -- Two changes of a fan may share an instant (one as_of evaluated twice with more history):
    -- the one recorded later (the greater event_seq) holds.
    SELECT fan_id, arg_max(to_stage, (occurred_at, event_seq)) AS recorded_stage
    FROM lifecycle.recorded_events
    WHERE event_type = 'stage_change' AND occurred_at <= as_of()
    GROUP BY fan_id
)
SELECT
    s.creator_id,
    s.fan_id,
    'stage_change'              AS event_type,
    r.recorded_stage            AS from_stage,
    s.stage                     AS to_stage,
    CAST(NULL AS VARCHAR)       AS milestone,
    CASE WHEN r.fan_id IS NULL THEN s.stage_since ELSE as_of() END AS occurred_at,
    s.stage_reason              AS reason
FROM intermediate.fan_stage AS s
LEFT JOIN recorded AS r USING (fan_id)
WHERE r.recorded_stage IS DISTINCT FROM s.stage
