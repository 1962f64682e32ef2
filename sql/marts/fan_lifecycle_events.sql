-- The creator's lifecycle log after an evaluation at as_of(): every event already recorded,
-- unchanged, then the new stage changes and milestones (fan_lifecycle_events/new_events.sql).
-- The log is kept as a file and the events appended since it was written, each run's in a part
-- of its own (lifecycle/models.py); this is the whole log, written when they are folded.
SELECT * FROM lifecycle.recorded_events
UNION ALL BY NAME
SELECT * FROM lifecycle.new_events
