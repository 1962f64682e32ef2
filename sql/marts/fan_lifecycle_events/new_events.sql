-- The events an evaluation at as_of() appends to the creator's lifecycle log: its new stage
-- changes and milestones, numbered on from the last event_seq recorded. event_id is the creator
-- and that number ('acct_...:42'): a key over every creator's log, the same whenever it is read,
-- and never reused since the log only grows.
WITH new_events AS (
    SELECT * FROM lifecycle.stage_changes
    UNION ALL
    SELECT * FROM lifecycle.milestones
),
numbered AS (
    SELECT
        (SELECT coalesce(max(event_seq), 0) FROM lifecycle.recorded_events)
            + row_number() OVER (ORDER BY occurred_at, fan_id, event_type, milestone) AS event_seq,
        *
    FROM new_events
)
SELECT
    creator_id || ':' || event_seq  AS event_id,
    *,
    as_of()                         AS recorded_at,
    getvariable('run_id')           AS run_id
FROM numbered
