-- The lifecycle log of a creator evaluated for the first time: no event yet, in the log's shape
-- (also the column order and types every log is read with, ofhq_pipeline/lifecycle/models.py).
SELECT
    CAST(NULL AS VARCHAR)       AS event_id,
    CAST(NULL AS BIGINT)        AS event_seq,
    CAST(NULL AS VARCHAR)       AS creator_id,
    CAST(NULL AS BIGINT)        AS fan_id,
    CAST(NULL AS VARCHAR)       AS event_type,
    CAST(NULL AS VARCHAR)       AS from_stage,
    CAST(NULL AS VARCHAR)       AS to_stage,
    CAST(NULL AS VARCHAR)       AS milestone,
    CAST(NULL AS TIMESTAMPTZ)   AS occurred_at,
    CAST(NULL AS VARCHAR)       AS reason,
    CAST(NULL AS TIMESTAMPTZ)   AS recorded_at,
    CAST(NULL AS VARCHAR)       AS run_id
WHERE false
