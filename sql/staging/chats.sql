-- staging.chats: one row per chat (one per fan who has one), from the latest `chats` sighting.
SELECT
    creator_id,
    CAST(payload ->> '$.fan.id' AS BIGINT)                      AS fan_id,
    payload ->> '$.fan.username'                                AS username,
    payload ->> '$.fan.name'                                    AS name,
    CAST(payload ->> '$.lastMessage.id' AS BIGINT)              AS last_message_id,
    CAST(payload ->> '$.lastMessage.createdAt' AS TIMESTAMPTZ)  AS last_message_at,
    CAST(payload ->> '$.unreadMessagesCount' AS INTEGER)        AS unread_messages_count,
    fetched_at                                                  AS last_fetched_at
FROM raw.chats
QUALIFY row_number() OVER (
    PARTITION BY CAST(payload ->> '$.fan.id' AS BIGINT)
    ORDER BY fetched_at DESC, batch_id DESC, item_no DESC
) = 1
