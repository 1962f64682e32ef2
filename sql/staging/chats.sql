-- staging.chats: one row per chat (one per fan who has one), from the latest `chats` sighting
-- that staging.cast_rejects did not set aside. TRY_CAST turns a value it let through yet does
-- not cast into NULL, for the schema check to report, instead of failing the model.
WITH sightings AS (
    SELECT
        r.*,
        from_json(r.payload, '{
            "fan": {"id": "VARCHAR", "username": "VARCHAR", "name": "VARCHAR"},
            "lastMessage": {"id": "VARCHAR", "createdAt": "VARCHAR"},
            "unreadMessagesCount": "VARCHAR"}') AS c
    FROM raw.chats AS r
    ANTI JOIN staging.cast_rejects AS bad
        ON bad.source_table = 'chats' AND bad.batch_id = r.batch_id AND bad.item_no = r.item_no
)
SELECT
    creator_id,
    TRY_CAST(c.fan.id AS BIGINT)                                AS fan_id,
    c.fan.username                                              AS username,
    c.fan.name                                                  AS name,
    TRY_CAST(c.lastMessage.id AS BIGINT)                        AS last_message_id,
    TRY_CAST(c.lastMessage.createdAt AS TIMESTAMPTZ)            AS last_message_at,
    TRY_CAST(c.unreadMessagesCount AS INTEGER)                  AS unread_messages_count,
    fetched_at                                                  AS last_fetched_at
FROM sightings
QUALIFY row_number() OVER (
    PARTITION BY fan_id
    ORDER BY fetched_at DESC, batch_id DESC, item_no DESC
) = 1
