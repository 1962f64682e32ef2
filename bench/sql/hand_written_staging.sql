-- The baseline for raw → staging: what an engineer would write by hand to stage the same raw
-- files: parse each payload once, keep each id's latest sighting (a transaction's most advanced
-- status), one COPY per table. No rejects, no schema checks, no webhook sightings.
-- Run as one script; the variables name the raw folders and the output folder.
COPY (
    SELECT creator_id, TRY_CAST(f.id AS BIGINT) AS fan_id, f.username, f.name,
        TRY_CAST(f.lastSeen AS TIMESTAMPTZ) AS last_seen_at,
        f.subscribedOnData.status AS subscription_status,
        TRY_CAST(f.subscribedOnData.subscribeAt AS TIMESTAMPTZ) AS subscribed_at,
        TRY_CAST(f.subscribedOnData.expiredAt AS TIMESTAMPTZ) AS subscription_expires_at,
        CAST(round(TRY_CAST(f.subscribedOnData.subscribePrice AS DECIMAL(18, 4)) * 100) AS BIGINT)
            AS subscribe_price_cents,
        f.subscribedOnData.subscribes AS subscribes, fetched_at AS last_fetched_at
    FROM (SELECT creator_id, fetched_at, batch_id, item_no, from_json(payload, '{
            "id": "VARCHAR", "username": "VARCHAR", "name": "VARCHAR", "lastSeen": "VARCHAR",
            "subscribedOnData": {"status": "VARCHAR", "subscribeAt": "VARCHAR",
                "expiredAt": "VARCHAR", "subscribePrice": "VARCHAR", "subscribes": "JSON"}}') AS f
          FROM read_parquet(getvariable('raw_fans'), union_by_name = true))
    QUALIFY row_number() OVER (PARTITION BY fan_id ORDER BY fetched_at DESC, batch_id DESC,
                                                            item_no DESC) = 1
) TO 'hand_fans.parquet' (FORMAT parquet, COMPRESSION zstd);

COPY (
    SELECT creator_id, t.id AS transaction_id,
        TRY_CAST(t.user.id AS BIGINT) AS fan_id,
        TRY_CAST(t.createdAt AS TIMESTAMPTZ) AS created_at,
        CAST(round(TRY_CAST(t.amount AS DECIMAL(18, 4)) * 100) AS BIGINT) AS amount_cents,
        CAST(round(TRY_CAST(t.net AS DECIMAL(18, 4)) * 100) AS BIGINT) AS net_cents,
        CAST(round(TRY_CAST(t.fee AS DECIMAL(18, 4)) * 100) AS BIGINT) AS fee_cents,
        t.currency, t.description,
        max(CASE t.status WHEN 'pending' THEN 1 WHEN 'done' THEN 2 WHEN 'refunded' THEN 3
                          ELSE 0 END) OVER (PARTITION BY t.id) AS status_rank
    FROM (SELECT creator_id, fetched_at, batch_id, item_no, from_json(payload, '{
            "id": "VARCHAR", "user": {"id": "VARCHAR"}, "createdAt": "VARCHAR",
            "amount": "VARCHAR", "net": "VARCHAR", "fee": "VARCHAR", "currency": "VARCHAR",
            "description": "VARCHAR", "status": "VARCHAR"}') AS t
          FROM read_parquet(getvariable('raw_transactions'), union_by_name = true))
    QUALIFY row_number() OVER (PARTITION BY transaction_id ORDER BY fetched_at DESC,
                                                                    batch_id DESC, item_no DESC) = 1
) TO 'hand_transactions.parquet' (FORMAT parquet, COMPRESSION zstd);

COPY (
    SELECT creator_id, chat_fan_id AS fan_id, TRY_CAST(m.id AS BIGINT) AS message_id,
        TRY_CAST(m.fromUser.id AS BIGINT) = chat_fan_id AS is_from_fan,
        TRY_CAST(m.createdAt AS TIMESTAMPTZ) AS created_at, m.text,
        CAST(round(TRY_CAST(coalesce(m.price, '0') AS DECIMAL(18, 4)) * 100) AS BIGINT)
            AS price_cents,
        TRY_CAST(m.queueId AS BIGINT) AS queue_id, fetched_at AS last_seen_at
    FROM (SELECT creator_id, chat_fan_id, fetched_at, batch_id, item_no, from_json(payload, '{
            "id": "VARCHAR", "text": "VARCHAR", "price": "VARCHAR", "queueId": "VARCHAR",
            "createdAt": "VARCHAR", "fromUser": {"id": "VARCHAR"}}') AS m
          FROM read_parquet(getvariable('raw_messages'), union_by_name = true))
    QUALIFY row_number() OVER (PARTITION BY fan_id, message_id ORDER BY fetched_at DESC,
                                                                       batch_id DESC, item_no DESC) = 1
) TO 'hand_messages.parquet' (FORMAT parquet, COMPRESSION zstd);

COPY (
    SELECT creator_id, TRY_CAST(c.fan.id AS BIGINT) AS fan_id,
        TRY_CAST(c.lastMessage.id AS BIGINT) AS last_message_id,
        TRY_CAST(c.lastMessage.createdAt AS TIMESTAMPTZ) AS last_message_at,
        fetched_at AS last_fetched_at
    FROM (SELECT creator_id, fetched_at, batch_id, item_no, from_json(payload, '{
            "fan": {"id": "VARCHAR"}, "lastMessage": {"id": "VARCHAR", "createdAt": "VARCHAR"}}')
            AS c
          FROM read_parquet(getvariable('raw_chats'), union_by_name = true))
    QUALIFY row_number() OVER (PARTITION BY fan_id ORDER BY fetched_at DESC, batch_id DESC,
                                                            item_no DESC) = 1
) TO 'hand_chats.parquet' (FORMAT parquet, COMPRESSION zstd);
