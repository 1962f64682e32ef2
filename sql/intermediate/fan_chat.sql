-- intermediate.fan_chat: each fan's chat up to as_of(), every figure of it that reads all of his
-- messages: the last message (his and anyone's), how many he sent, his busiest UTC hours, and his
-- replies (a fan message right after one of the creator's in their chat, at most 24 hours later):
-- how many, and their time summed. fan_engagement takes them from here, and the 30 days before
-- as_of() from the messages themselves: that window moves with as_of() alone.
--
-- Built incrementally. The chats grow for as long as the creator is synced, and finding a reply
-- needs the message before it, a sort of the fan's chat. So each fan's messages up to as_of() get
-- a fingerprint (how many, and the XOR of a hash of what every figure reads: id, instant,
-- sender); a fan whose fingerprint is the one his previous build recorded (previous.fan_chat)
-- keeps his figures, and only the other fans' chats are read again, once, in order. Fingerprints
-- are of content, not of time: a late message, a removed one, a rebuilt staging table or an
-- earlier as_of() all change them.
WITH fingerprints AS (
    SELECT
        creator_id,
        fan_id,
        count(*)                                          AS messages,
        -- Hashed twice: hash() of several values XORs the last one's hash in, so the same
        -- change to an even number of messages (two senders told apart again) would cancel out.
        bit_xor(hash(hash(message_id, created_at, is_from_fan))) AS messages_hash
    FROM staging.messages
    WHERE created_at <= as_of()
    GROUP BY ALL
),
kept AS (
    SELECT previous.*
    FROM previous.fan_chat AS previous
    SEMI JOIN fingerprints USING (creator_id, fan_id, messages, messages_hash)
),
changed AS (
    -- The fans read again: few, so their messages are found by a small join.
    SELECT creator_id, fan_id
    FROM fingerprints
    ANTI JOIN previous.fan_chat USING (creator_id, fan_id, messages, messages_hash)
),
chat AS (
    -- The changed fans' messages, each with the one before it in the chat, and whether it is a
    -- reply to it.
    SELECT
        creator_id,
        fan_id,
        created_at,
        is_from_fan,
        us_since_previous,
        is_from_fan AND NOT previous_is_from_fan AND us_since_previous <= 86400000000  -- 24 hours
                                                                  AS is_reply
    FROM (
        SELECT
            creator_id,
            fan_id,
            created_at,
            is_from_fan,
            lag(is_from_fan) OVER in_order                            AS previous_is_from_fan,
            epoch_us(created_at) - lag(epoch_us(created_at)) OVER in_order AS us_since_previous
        FROM staging.messages
        SEMI JOIN changed USING (creator_id, fan_id)
        WHERE created_at <= as_of()
        WINDOW in_order AS (PARTITION BY creator_id, fan_id ORDER BY created_at, message_id)
    )
),
by_hour AS (
    SELECT
        creator_id,
        fan_id,
        utc_hour(created_at)                                      AS hour,
        max(created_at)                                           AS last_message_at,
        max(created_at) FILTER (WHERE is_from_fan)                AS last_fan_message_at,
        count(*) FILTER (WHERE is_from_fan)                       AS fan_messages,
        count(*) FILTER (WHERE is_reply)                          AS replies,
        sum(us_since_previous) FILTER (WHERE is_reply)            AS reply_us
    FROM chat
    GROUP BY ALL
),
recomputed AS (
    SELECT
        creator_id,
        fan_id,
        max(last_message_at)                                      AS last_message_at,
        max(last_fan_message_at)                                  AS last_fan_message_at,
        CAST(sum(fan_messages) AS BIGINT)                         AS fan_message_count,
        -- The fan's 3 busiest UTC hours: by his message count, ties to the earlier hour.
        coalesce(arg_max(hour, (fan_messages, -hour), 3) FILTER (WHERE fan_messages > 0), [])
                                                                  AS active_hours,
        CAST(sum(replies) AS BIGINT)                              AS replies,
        CAST(coalesce(sum(reply_us), 0) AS BIGINT)                AS reply_us
    FROM by_hour
    GROUP BY ALL
)
SELECT * FROM kept
UNION ALL BY NAME
SELECT
    f.creator_id,
    f.fan_id,
    f.messages,
    f.messages_hash,
    r.* EXCLUDE (creator_id, fan_id)
FROM fingerprints AS f
ANTI JOIN kept USING (creator_id, fan_id)
JOIN recomputed AS r USING (creator_id, fan_id)
