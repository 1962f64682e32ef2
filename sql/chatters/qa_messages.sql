-- chatters.qa_messages: the personal messages of the sampled conversations (chatters.qa_sample),
-- both sides, with their texts as staged (cleaned and redacted in Python before any use).
SELECT
    q.chatter,
    q.fan_id,
    q.day,
    m.message_id,
    m.is_from_fan,
    m.created_at,
    m.price_cents,
    coalesce(s.text, '')                AS text
FROM chatters.qa_sample q
JOIN chatters.message_attribution m
  ON m.fan_id = q.fan_id AND m.day = q.day AND m.chatter = q.chatter AND NOT m.is_mass_message
JOIN staging.messages s
  ON s.fan_id = m.fan_id AND s.message_id = m.message_id
