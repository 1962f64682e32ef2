-- staging.messages: one row per chat message. A chat's `lastMessage` and `messages.received` /
-- `messages.sent` webhooks count as sightings too; rows staging.cast_rejects sets aside do not.
-- A message is the fan's when it comes from the chat's fan, else the creator's. A sent message
-- names its fan as `toUser` (or `fan`/`user`); one that names no fan cannot be placed in a chat
-- and is left out. Each message is parsed once, as staging.cast_rejects checked it; TRY_CAST
-- turns a value it let through yet does not cast into NULL, for the schema check to report,
-- instead of failing the model.
WITH sightings AS (
    SELECT 'messages' AS source_table, batch_id, item_no, creator_id, fetched_at,
           0 AS source_rank, NULL AS event, chat_fan_id, payload AS message
    FROM raw.messages
    UNION ALL
    -- The last message as text, like the other sightings (see staging.transactions).
    SELECT 'chats', batch_id, item_no, creator_id, fetched_at, 1, NULL,
           TRY_CAST(payload ->> '$.fan.id' AS BIGINT),
           CAST(payload -> '$.lastMessage' AS VARCHAR)
    FROM raw.chats
    WHERE payload ->> '$.lastMessage.id' IS NOT NULL
    UNION ALL
    SELECT 'webhook_events', batch_id, item_no, creator_id, fetched_at, 2, event, NULL, payload
    FROM raw.webhook_events
    WHERE event IN ('messages.received', 'messages.sent')
),
parsed AS (
    SELECT
        s.* EXCLUDE (message),
        from_json(s.message, '{
            "id": "VARCHAR", "text": "VARCHAR", "price": "VARCHAR", "isFree": "VARCHAR",
            "isTip": "VARCHAR", "queueId": "VARCHAR", "createdAt": "VARCHAR", "media": "JSON",
            "fromUser": {"id": "VARCHAR"}, "toUser": {"id": "VARCHAR"}, "fan": {"id": "VARCHAR"},
            "user": {"id": "VARCHAR"}}') AS m
    FROM sightings AS s
    ANTI JOIN staging.cast_rejects AS bad
        ON bad.source_table = s.source_table AND bad.batch_id = s.batch_id
       AND bad.item_no = s.item_no
),
placed AS (
    SELECT
        *,
        CASE event
            WHEN 'messages.received' THEN TRY_CAST(m.fromUser.id AS BIGINT)
            WHEN 'messages.sent' THEN TRY_CAST(coalesce(m.toUser.id, m.fan.id, m.user.id) AS BIGINT)
            ELSE chat_fan_id
        END AS fan_id
    FROM parsed
)
SELECT
    creator_id,
    fan_id,
    TRY_CAST(m.id AS BIGINT)                                    AS message_id,
    TRY_CAST(m.fromUser.id AS BIGINT) = fan_id                  AS is_from_fan,
    TRY_CAST(m.createdAt AS TIMESTAMPTZ)                        AS created_at,
    m.text                                                      AS text,
    cents(TRY_CAST(coalesce(m.price, '0') AS DECIMAL(18, 4)))   AS price_cents,
    TRY_CAST(m.isFree AS BOOLEAN)                               AS is_free,
    TRY_CAST(m.isTip AS BOOLEAN)                                AS is_tip,
    TRY_CAST(m.queueId AS BIGINT)                               AS queue_id,
    m.queueId IS NOT NULL                                       AS is_mass_message,
    coalesce(TRY_CAST(json_extract(m.media, '$[*].id') AS BIGINT[]), [])
                                                                AS media_ids,
    fetched_at                                                  AS last_seen_at
FROM placed
WHERE fan_id IS NOT NULL
QUALIFY row_number() OVER (
    PARTITION BY fan_id, message_id
    ORDER BY fetched_at DESC, source_rank, batch_id DESC, item_no DESC
) = 1
