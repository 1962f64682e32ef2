-- staging.messages: one row per chat message. A chat's `lastMessage` and `messages.received` /
-- `messages.sent` webhooks count as sightings too. A message is the fan's when it comes from the
-- chat's fan, else the creator's. A sent message names its fan as `toUser` (or `fan`/`user`);
-- one that names no fan cannot be placed in a chat and is left out.
WITH sightings AS (
    SELECT chat_fan_id AS fan_id, payload::JSON AS m, creator_id, fetched_at, 0 AS source_rank,
           batch_id, item_no
    FROM raw.messages
    UNION ALL
    SELECT CAST(payload ->> '$.fan.id' AS BIGINT), payload::JSON -> '$.lastMessage', creator_id,
           fetched_at, 1, batch_id, item_no
    FROM raw.chats
    WHERE payload ->> '$.lastMessage.id' IS NOT NULL
    UNION ALL
    SELECT CAST(CASE event
                    WHEN 'messages.received' THEN payload ->> '$.fromUser.id'
                    ELSE coalesce(payload ->> '$.toUser.id', payload ->> '$.fan.id',
                                  payload ->> '$.user.id')
                END AS BIGINT),
           payload::JSON, creator_id, fetched_at, 2, batch_id, item_no
    FROM raw.webhook_events
    WHERE event IN ('messages.received', 'messages.sent')
)
SELECT
    creator_id,
    fan_id,
    CAST(m ->> '$.id' AS BIGINT)                                AS message_id,
    CAST(m ->> '$.fromUser.id' AS BIGINT) = fan_id              AS is_from_fan,
    CAST(m ->> '$.createdAt' AS TIMESTAMPTZ)                    AS created_at,
    m ->> '$.text'                                              AS text,
    cents(coalesce(m ->> '$.price', '0'))                       AS price_cents,
    CAST(m ->> '$.isFree' AS BOOLEAN)                           AS is_free,
    CAST(m ->> '$.isTip' AS BOOLEAN)                            AS is_tip,
    CAST(m ->> '$.queueId' AS BIGINT)                           AS queue_id,
    m ->> '$.queueId' IS NOT NULL                               AS is_mass_message,
    CAST(json_extract(m, '$.media[*].id') AS BIGINT[])          AS media_ids,
    fetched_at                                                  AS last_seen_at
FROM sightings
WHERE fan_id IS NOT NULL
QUALIFY row_number() OVER (
    PARTITION BY fan_id, CAST(m ->> '$.id' AS BIGINT)
    ORDER BY fetched_at DESC, source_rank, batch_id DESC, item_no DESC
) = 1
