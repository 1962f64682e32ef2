-- intermediate.fan_reply_times: each fan's replies up to as_of() (a fan message right after one
-- of the creator's in their chat, at most 24 hours later): how many, and their time summed, for
-- fan_engagement's avg_reply_time_s.
--
-- Built incrementally. Finding a reply needs the message before it, a sort of the fan's chat, and
-- the chats grow for as long as the creator is synced. So each fan's messages up to as_of() get a
-- fingerprint (how many, and the XOR of a hash of what the order and the rule read); a fan whose
-- fingerprint is the one his previous build recorded (previous.fan_reply_times) keeps his
-- figures, and only the other fans' chats are sorted. Fingerprints are of content, not of time:
-- a late message, a removed one, a rebuilt staging table or an earlier as_of() all change them.
WITH fingerprints AS (
    SELECT
        creator_id,
        fan_id,
        count(*)                                          AS messages,
        bit_xor(hash(message_id, created_at, is_from_fan)) AS messages_hash
    FROM staging.messages
    WHERE created_at <= as_of()
    GROUP BY ALL
),
kept AS (
    SELECT previous.*
    FROM previous.fan_reply_times AS previous
    SEMI JOIN fingerprints USING (creator_id, fan_id, messages, messages_hash)
),
chat AS (
    -- The changed fans' messages, each with the one before it in the chat.
    SELECT
        creator_id,
        fan_id,
        is_from_fan,
        lag(is_from_fan) OVER in_order                            AS previous_is_from_fan,
        epoch_us(created_at) - lag(epoch_us(created_at)) OVER in_order AS us_since_previous
    FROM staging.messages
    ANTI JOIN kept USING (creator_id, fan_id)
    WHERE created_at <= as_of()
    WINDOW in_order AS (PARTITION BY creator_id, fan_id ORDER BY created_at, message_id)
),
replies AS (
    SELECT
        creator_id,
        fan_id,
        count(*)                           AS replies,
        CAST(sum(us_since_previous) AS BIGINT) AS reply_us
    FROM chat
    WHERE is_from_fan AND NOT previous_is_from_fan AND us_since_previous <= 86400000000  -- 24 hours
    GROUP BY ALL
)
SELECT * FROM kept
UNION ALL BY NAME
SELECT
    f.creator_id,
    f.fan_id,
    f.messages,
    f.messages_hash,
    coalesce(r.replies, 0) AS replies,
    coalesce(r.reply_us, 0) AS reply_us
FROM fingerprints AS f
ANTI JOIN kept USING (creator_id, fan_id)
LEFT JOIN replies AS r USING (creator_id, fan_id)
