-- The chat messages the classifier's windows are built from: every message of the creator's
-- chats created at or before as_of() (staging.messages is already one row per message).
SELECT
    fan_id,
    message_id,
    coalesce(is_from_fan, false)        AS is_from_fan,
    created_at,
    coalesce(text, '')                  AS text,
    coalesce(price_cents, 0)            AS price_cents
FROM staging.messages
WHERE created_at <= as_of()
