-- staging.cast_rejects: the raw rows staging sets aside, one row per value that does not cast:
-- which raw table and row (`batch_id`, `item_no`; `source_id` is the item's own id, or for a
-- webhook its landing id), which field, the offending text, why, and when the row arrived (ids
-- and texts cut to 200 characters: whatever was sent lands in check metadata). Every staging
-- model reads its raw rows less the ones listed here, so one bad or hostile item (an amount of
-- "abc", NaN or 1e400, a fan id of 1e30, a createdAt of "yesterday") is left out whole and the
-- creator's other rows still build, on this run and every later one.
--
-- Each CTE below lists, for one kind of raw item, the fields staging casts, with their kind and
-- whether they must be present; `judged` says once, for every kind, what a value must be:
--   id       a whole number that fits 64 bits (a fan id of 1.5 must not round onto another fan)
--   count    a number that fits a 32-bit integer
--   money    dollars: a finite number within ±1,000,000, so that sums of cents stay far inside
--            64 bits; a price is money that is not negative
--   number   a finite number
--   instant  a timestamp, not ±infinity
--   boolean  true or false
--   text     anything present
--
-- Nearly every item passes, so each payload is parsed once and its values are first tested in
-- place, one row per item, with those same tests (the `valid_<kind>` macros, sql/macros) (`WHERE (...) IS NOT TRUE` keeps the items where
-- a value fails or cannot be tested); only the items kept are itemised into one row per value for
-- `judged` to say which and why. A test may keep an item that passes (judged then lists nothing
-- for it) but must never drop one that fails: a field added to a list needs its test beside it
-- (test_cast_rejects_fields.py tries bad values in every field).
--
-- Its name sorts before every staging model's: a creator's session creates the staging views in
-- name order, and each model reads this one.
WITH transaction_rows AS NOT MATERIALIZED (
    -- Transactions from the feed and `transactions.new` webhooks, and the payment inside each
    -- chargeback.
    SELECT 'transactions' AS source_table, creator_id, batch_id, item_no, fetched_at,
           NULL AS event, NULL AS event_id, payload, '' AS prefix, payload AS transaction
    FROM raw.transactions
    UNION ALL
    SELECT 'webhook_events', creator_id, batch_id, item_no, fetched_at, event, event_id, payload,
           '', payload
    FROM raw.webhook_events
    WHERE event = 'transactions.new'
    UNION ALL
    -- Text, as the other branches (see staging.transactions).
    SELECT 'chargebacks', creator_id, batch_id, item_no, fetched_at, NULL, NULL, payload,
           'payment.', CAST(payload -> '$.payment' AS VARCHAR)
    FROM raw.chargebacks
),
transaction_values AS (
    SELECT
        source_table, creator_id, batch_id, item_no, fetched_at, event,
        if(source_table = 'webhook_events', CAST(event_id AS VARCHAR), payload ->> '$.id')
            AS source_id,
        unnest([
            {'field': prefix || 'id', 'value': t.id, 'kind': 'text', 'required': true},
            {'field': prefix || if(t.user.id IS NULL AND t.fan.id IS NOT NULL, 'fan.id', 'user.id'),
             'value': coalesce(t.user.id, t.fan.id), 'kind': 'id', 'required': true},
            {'field': prefix || if(t.createdAt IS NULL AND t.created_at IS NOT NULL,
                                   'created_at', 'createdAt'),
             'value': coalesce(t.createdAt, t.created_at), 'kind': 'instant', 'required': true},
            {'field': prefix || 'amount', 'value': t.amount, 'kind': 'money', 'required': true},
            {'field': prefix || if(t.net IS NULL AND t.net_amount IS NOT NULL, 'net_amount', 'net'),
             'value': coalesce(t.net, t.net_amount), 'kind': 'money', 'required': false},
            {'field': prefix || if(t.fee IS NULL AND t.fee_amount IS NOT NULL, 'fee_amount', 'fee'),
             'value': coalesce(t.fee, t.fee_amount), 'kind': 'money', 'required': false},
            {'field': prefix || 'vatAmount', 'value': t.vatAmount, 'kind': 'money',
             'required': false}
        ]) AS v
    FROM (
        SELECT *, from_json(transaction, '{
            "id": "VARCHAR", "user": {"id": "VARCHAR"}, "fan": {"id": "VARCHAR"},
            "createdAt": "VARCHAR", "created_at": "VARCHAR", "amount": "VARCHAR",
            "net": "VARCHAR", "net_amount": "VARCHAR", "fee": "VARCHAR", "fee_amount": "VARCHAR",
            "vatAmount": "VARCHAR"}') AS t
        FROM transaction_rows
    )
    WHERE (
        t.id IS NOT NULL
        AND valid_id(coalesce(t.user.id, t.fan.id))
        AND valid_instant(coalesce(t.createdAt, t.created_at))
        AND valid_money(t.amount)
        AND (coalesce(t.net, t.net_amount) IS NULL
             OR valid_money(coalesce(t.net, t.net_amount)))
        AND (coalesce(t.fee, t.fee_amount) IS NULL
             OR valid_money(coalesce(t.fee, t.fee_amount)))
        AND (t.vatAmount IS NULL OR valid_money(t.vatAmount))
    ) IS NOT TRUE
),
chargeback_values AS (
    -- When the chargeback happened.
    SELECT 'chargebacks' AS source_table, creator_id, batch_id, item_no, fetched_at, NULL AS event,
           payload ->> '$.id' AS source_id,
           {'field': 'createdAt', 'value': payload ->> '$.createdAt', 'kind': 'instant',
            'required': true} AS v
    FROM raw.chargebacks
    WHERE valid_instant(payload ->> '$.createdAt') IS NOT TRUE
),
fan_items AS (
    -- The fans feed: the fans with a value that fails, each with every period of its
    -- `subscribes` list.
    SELECT creator_id, batch_id, item_no, fetched_at, f.id AS source_id, f, f.subscribedOnData AS s
    FROM (
        SELECT *, from_json(payload, '{
            "id": "VARCHAR", "lastSeen": "VARCHAR", "subscribedOnData": {
                "subscribeAt": "VARCHAR", "expiredAt": "VARCHAR", "renewedAt": "VARCHAR",
                "subscribePrice": "VARCHAR", "regularPrice": "VARCHAR",
                "discountPercent": "VARCHAR", "totalSumm": "VARCHAR", "subscribes": [{
                    "date": "VARCHAR", "price": "VARCHAR", "regularPrice": "VARCHAR",
                    "discount": "VARCHAR"}]}}') AS f
        FROM raw.fans
    )
    WHERE (
        valid_id(f.id)
        AND (f.lastSeen IS NULL OR valid_instant(f.lastSeen))
        AND (f.subscribedOnData.subscribeAt IS NULL
             OR valid_instant(f.subscribedOnData.subscribeAt))
        AND (f.subscribedOnData.expiredAt IS NULL
             OR valid_instant(f.subscribedOnData.expiredAt))
        AND (f.subscribedOnData.renewedAt IS NULL
             OR valid_instant(f.subscribedOnData.renewedAt))
        AND (f.subscribedOnData.subscribePrice IS NULL
             OR valid_price(f.subscribedOnData.subscribePrice))
        AND (f.subscribedOnData.regularPrice IS NULL
             OR valid_price(f.subscribedOnData.regularPrice))
        AND (f.subscribedOnData.discountPercent IS NULL
             OR valid_number(f.subscribedOnData.discountPercent))
        AND (f.subscribedOnData.totalSumm IS NULL
             OR valid_money(f.subscribedOnData.totalSumm))
        -- No period fails.
        AND coalesce(len(list_filter(f.subscribedOnData.subscribes, p -> (
            valid_instant(p.date)
            AND valid_price(p.price)
            AND (p.regularPrice IS NULL
                 OR valid_price(p.regularPrice))
            AND (p.discount IS NULL OR valid_number(p.discount))
        ) IS NOT TRUE)), 0) = 0
    ) IS NOT TRUE
),
fan_values AS (
    SELECT
        'fans' AS source_table, creator_id, batch_id, item_no, fetched_at, NULL AS event,
        source_id,
        unnest([
            {'field': 'id', 'value': f.id, 'kind': 'id', 'required': true},
            {'field': 'lastSeen', 'value': f.lastSeen, 'kind': 'instant', 'required': false},
            {'field': 'subscribedOnData.subscribeAt', 'value': s.subscribeAt, 'kind': 'instant',
             'required': false},
            {'field': 'subscribedOnData.expiredAt', 'value': s.expiredAt, 'kind': 'instant',
             'required': false},
            {'field': 'subscribedOnData.renewedAt', 'value': s.renewedAt, 'kind': 'instant',
             'required': false},
            {'field': 'subscribedOnData.subscribePrice', 'value': s.subscribePrice,
             'kind': 'price', 'required': false},
            {'field': 'subscribedOnData.regularPrice', 'value': s.regularPrice, 'kind': 'price',
             'required': false},
            {'field': 'subscribedOnData.discountPercent', 'value': s.discountPercent,
             'kind': 'number', 'required': false},
            {'field': 'subscribedOnData.totalSumm', 'value': s.totalSumm, 'kind': 'money',
             'required': false}
        ]) AS v
    FROM fan_items
),
periods AS (
    -- Every period of a fan's `subscribes` list, numbered from 1.
    SELECT creator_id, batch_id, item_no, fetched_at, source_id,
           unnest(s.subscribes) AS p, generate_subscripts(s.subscribes, 1) AS n
    FROM fan_items
),
period_values AS (
    SELECT
        'fans' AS source_table, creator_id, batch_id, item_no, fetched_at, NULL AS event,
        source_id,
        unnest([
            {'field': field || 'date', 'value': p.date, 'kind': 'instant', 'required': true},
            {'field': field || 'price', 'value': p.price, 'kind': 'price', 'required': true},
            {'field': field || 'regularPrice', 'value': p.regularPrice, 'kind': 'price',
             'required': false},
            {'field': field || 'discount', 'value': p.discount, 'kind': 'number', 'required': false}
        ]) AS v
    FROM (SELECT *, 'subscribedOnData.subscribes[' || n || '].' AS field FROM periods)
),
subscription_values AS (
    -- The subscription webhooks, which staging.fans and .subscription_periods read.
    SELECT
        'webhook_events' AS source_table, creator_id, batch_id, item_no, fetched_at, event,
        CAST(event_id AS VARCHAR) AS source_id,
        unnest([
            {'field': 'user.id', 'value': w.user.id, 'kind': 'id', 'required': true},
            {'field': 'subscribeAt', 'value': w.subscribeAt, 'kind': 'instant', 'required': false},
            {'field': 'expiredAt', 'value': w.expiredAt, 'kind': 'instant', 'required': false},
            {'field': 'price', 'value': w.price, 'kind': 'price', 'required': false},
            {'field': 'regularPrice', 'value': w.regularPrice, 'kind': 'price', 'required': false},
            {'field': 'discount', 'value': w.discount, 'kind': 'number', 'required': false}
        ]) AS v
    FROM (
        SELECT *, from_json(payload, '{
            "user": {"id": "VARCHAR"}, "subscribeAt": "VARCHAR", "expiredAt": "VARCHAR",
            "price": "VARCHAR", "regularPrice": "VARCHAR", "discount": "VARCHAR"}') AS w
        FROM raw.webhook_events
        WHERE event IN ('subscriptions.new', 'subscriptions.renewed', 'subscriptions.expired')
    )
    WHERE (
        valid_id(w.user.id)
        AND (w.subscribeAt IS NULL OR valid_instant(w.subscribeAt))
        AND (w.expiredAt IS NULL OR valid_instant(w.expiredAt))
        AND (w.price IS NULL OR valid_price(w.price))
        AND (w.regularPrice IS NULL
             OR valid_price(w.regularPrice))
        AND (w.discount IS NULL OR valid_number(w.discount))
    ) IS NOT TRUE
),
message_rows AS NOT MATERIALIZED (
    -- Messages from the feed and the message webhooks, and each chat's last message.
    SELECT 'messages' AS source_table, creator_id, batch_id, item_no, fetched_at, NULL AS event,
           NULL AS event_id, payload, '' AS prefix, payload AS message
    FROM raw.messages
    UNION ALL
    SELECT 'webhook_events', creator_id, batch_id, item_no, fetched_at, event, event_id, payload,
           '', payload
    FROM raw.webhook_events
    WHERE event IN ('messages.received', 'messages.sent')
    UNION ALL
    -- Text, as the other branches (see staging.transactions).
    SELECT 'chats', creator_id, batch_id, item_no, fetched_at, NULL, NULL, payload,
           'lastMessage.', CAST(payload -> '$.lastMessage' AS VARCHAR)
    FROM raw.chats
    WHERE payload ->> '$.lastMessage.id' IS NOT NULL
),
message_items AS (
    -- The messages with a value that fails, each with the vault items it carries.
    SELECT
        source_table, creator_id, batch_id, item_no, fetched_at, event,
        CASE source_table WHEN 'webhook_events' THEN CAST(event_id AS VARCHAR)
                          WHEN 'chats' THEN payload ->> '$.fan.id'
                          ELSE payload ->> '$.id' END AS source_id,
        prefix, m
    FROM (
        SELECT *, from_json(message, '{
            "id": "VARCHAR", "fromUser": {"id": "VARCHAR"}, "createdAt": "VARCHAR",
            "price": "VARCHAR", "isFree": "VARCHAR", "isTip": "VARCHAR",
            "queueId": "VARCHAR", "media": [{"id": "VARCHAR"}]}') AS m
        FROM message_rows
    )
    WHERE (
        valid_id(m.id)
        AND valid_id(m.fromUser.id)
        AND valid_instant(m.createdAt)
        AND (m.price IS NULL OR valid_price(m.price))
        AND (m.isFree IS NULL OR valid_boolean(m.isFree))
        AND (m.isTip IS NULL OR valid_boolean(m.isTip))
        AND (m.queueId IS NULL OR valid_id(m.queueId))
        -- No vault item fails.
        AND coalesce(len(list_filter(m.media, media -> (
            media.id IS NULL OR valid_id(media.id)
        ) IS NOT TRUE)), 0) = 0
    ) IS NOT TRUE
),
message_values AS (
    SELECT
        * EXCLUDE (prefix, m),
        unnest([
            {'field': prefix || 'id', 'value': m.id, 'kind': 'id', 'required': true},
            {'field': prefix || 'fromUser.id', 'value': m.fromUser.id, 'kind': 'id',
             'required': true},
            {'field': prefix || 'createdAt', 'value': m.createdAt, 'kind': 'instant',
             'required': true},
            {'field': prefix || 'price', 'value': m.price, 'kind': 'price', 'required': false},
            {'field': prefix || 'isFree', 'value': m.isFree, 'kind': 'boolean', 'required': false},
            {'field': prefix || 'isTip', 'value': m.isTip, 'kind': 'boolean', 'required': false},
            {'field': prefix || 'queueId', 'value': m.queueId, 'kind': 'id', 'required': false}
        ]) AS v
    FROM message_items
),
media_values AS (
    -- The vault items a message carries, numbered from 1.
    SELECT
        * EXCLUDE (prefix, media, n),
        {'field': prefix || 'media[' || n || '].id', 'value': media.id, 'kind': 'id',
         'required': false} AS v
    FROM (
        SELECT * EXCLUDE (m), unnest(m.media) AS media, generate_subscripts(m.media, 1) AS n
        FROM message_items
    )
),
recipient_values AS (
    -- The fan a sent message names: `toUser`, else `fan`, else `user`.
    SELECT
        'webhook_events' AS source_table, creator_id, batch_id, item_no, fetched_at, event,
        CAST(event_id AS VARCHAR) AS source_id,
        {'field': CASE WHEN s.toUser.id IS NOT NULL THEN 'toUser.id'
                       WHEN s.fan.id IS NOT NULL THEN 'fan.id' ELSE 'user.id' END,
         'value': coalesce(s.toUser.id, s.fan.id, s.user.id), 'kind': 'id',
         'required': false} AS v
    FROM (
        SELECT *, from_json(payload, '{
            "toUser": {"id": "VARCHAR"}, "fan": {"id": "VARCHAR"},
            "user": {"id": "VARCHAR"}}') AS s
        FROM raw.webhook_events
        WHERE event = 'messages.sent'
    )
    WHERE (
        coalesce(s.toUser.id, s.fan.id, s.user.id) IS NULL
        OR valid_id(coalesce(s.toUser.id, s.fan.id, s.user.id))
    ) IS NOT TRUE
),
chat_values AS (
    -- A chat's fan and unread count (its last message is checked with the messages).
    SELECT
        'chats' AS source_table, creator_id, batch_id, item_no, fetched_at, NULL AS event,
        c.fan.id AS source_id,
        unnest([
            {'field': 'fan.id', 'value': c.fan.id, 'kind': 'id', 'required': true},
            {'field': 'lastMessage.id', 'value': c.lastMessage.id, 'kind': 'id',
             'required': false},
            {'field': 'unreadMessagesCount', 'value': c.unreadMessagesCount, 'kind': 'count',
             'required': false}
        ]) AS v
    FROM (
        SELECT *, from_json(payload, '{
            "fan": {"id": "VARCHAR"}, "lastMessage": {"id": "VARCHAR"},
            "unreadMessagesCount": "VARCHAR"}') AS c
        FROM raw.chats
    )
    WHERE (
        valid_id(c.fan.id)
        AND (c.lastMessage.id IS NULL
             OR valid_id(c.lastMessage.id))
        AND (c.unreadMessagesCount IS NULL
             OR valid_count(c.unreadMessagesCount))
    ) IS NOT TRUE
),
vault_values AS (
    SELECT
        'vault_media' AS source_table, creator_id, batch_id, item_no, fetched_at, NULL AS event,
        m.id AS source_id,
        unnest([
            {'field': 'id', 'value': m.id, 'kind': 'id', 'required': true},
            {'field': 'createdAt', 'value': m.createdAt, 'kind': 'instant', 'required': false},
            {'field': 'duration', 'value': m.duration, 'kind': 'count', 'required': false},
            {'field': 'counters.likesCount', 'value': m.counters.likesCount, 'kind': 'count',
             'required': false},
            {'field': 'counters.tipsSumm', 'value': m.counters.tipsSumm, 'kind': 'money',
             'required': false}
        ]) AS v
    FROM (
        SELECT *, from_json(payload, '{
            "id": "VARCHAR", "createdAt": "VARCHAR", "duration": "VARCHAR",
            "counters": {"likesCount": "VARCHAR", "tipsSumm": "VARCHAR"}}') AS m
        FROM raw.vault_media
    )
    WHERE (
        valid_id(m.id)
        AND (m.createdAt IS NULL OR valid_instant(m.createdAt))
        AND (m.duration IS NULL OR valid_count(m.duration))
        AND (m.counters.likesCount IS NULL
             OR valid_count(m.counters.likesCount))
        AND (m.counters.tipsSumm IS NULL
             OR valid_money(m.counters.tipsSumm))
    ) IS NOT TRUE
),
checked AS (
    SELECT * FROM transaction_values
    UNION ALL BY NAME SELECT * FROM chargeback_values
    UNION ALL BY NAME SELECT * FROM fan_values
    UNION ALL BY NAME SELECT * FROM period_values
    UNION ALL BY NAME SELECT * FROM subscription_values
    UNION ALL BY NAME SELECT * FROM message_values
    UNION ALL BY NAME SELECT * FROM media_values
    UNION ALL BY NAME SELECT * FROM recipient_values
    UNION ALL BY NAME SELECT * FROM chat_values
    UNION ALL BY NAME SELECT * FROM vault_values
),
judged AS (
    SELECT
        *,
        CASE
            WHEN v.value IS NULL THEN CASE WHEN v.required THEN 'missing' END
            -- What a value of each kind must be.
            WHEN v.kind = 'text' THEN NULL
            WHEN v.kind = 'id' AND valid_id(v.value)
                THEN NULL
            WHEN v.kind = 'count' AND valid_count(v.value) THEN NULL
            WHEN v.kind = 'money' AND valid_money(v.value) THEN NULL
            WHEN v.kind = 'price' AND valid_price(v.value)
                THEN NULL
            WHEN v.kind = 'number' AND valid_number(v.value) THEN NULL
            WHEN v.kind = 'instant' AND valid_instant(v.value) THEN NULL
            WHEN v.kind = 'boolean' AND valid_boolean(v.value) THEN NULL
            -- Why one is not.
            WHEN v.kind = 'id' THEN 'not a whole number within 64 bits'
            WHEN v.kind = 'count' THEN 'not an integer within 32 bits'
            WHEN v.kind = 'boolean' THEN 'not a boolean'
            WHEN v.kind = 'instant' AND TRY_CAST(v.value AS TIMESTAMPTZ) IS NULL
                THEN 'not an instant'
            WHEN v.kind = 'instant' THEN 'not finite'
            WHEN TRY_CAST(v.value AS DOUBLE) IS NULL THEN 'not a number'
            WHEN NOT isfinite(TRY_CAST(v.value AS DOUBLE)) THEN 'not finite'
            WHEN abs(TRY_CAST(v.value AS DOUBLE)) > 1000000 THEN 'out of range'
            WHEN v.kind = 'price' AND TRY_CAST(v.value AS DECIMAL(18, 4)) < 0 THEN 'negative'
            ELSE 'not a number'
        END AS reason
    FROM checked
)
SELECT
    creator_id,
    source_table,
    batch_id,
    item_no,
    left(source_id, 200)    AS source_id,
    event,
    v.field                 AS field,
    left(v.value, 200)      AS value,
    reason,
    fetched_at              AS seen_at
FROM judged
WHERE reason IS NOT NULL
