-- chatters.qa_fan_tone: each sampled fan's preferred tone, from marts.fan_preferences (the
-- classifier's) when it exists for the creator; null when unknown.
SELECT DISTINCT q.fan_id, f.tone_preference
FROM chatters.qa_sample q
JOIN chatters.fan_preferences f USING (fan_id)
WHERE f.tone_preference IS NOT NULL
