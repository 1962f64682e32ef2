-- The creator's lifecycle log after an evaluation at as_of(): every event already recorded,
-- unchanged, then the new stage changes and milestones, numbered on from the last event_id.
WITH new_events AS (
    SELECT * FROM lifecycle.stage_changes
    UNION ALL
    SELECT * FROM lifecycle.milestones
)
SELECT * FROM lifecycle.recorded_events
UNION ALL BY NAME
SELECT
    (SELECT coalesce(max(event_id), 0) FROM lifecycle.recorded_events)
        + row_number() OVER (ORDER BY occurred_at, fan_id, event_type, milestone) AS event_id,
    *,
    as_of()                     AS recorded_at,
    getvariable('run_id')       AS run_id
FROM new_events
