-- staging.fans: one row per fan of the creator. Sightings are the `fans/all` feed and the
-- subscription webhooks (`subscriptions.new`, `.renewed`, `.expired`), which also create fans
-- the feed has not listed yet. Each field takes its latest known value by when it was observed:
-- a feed row at its fetch time, a webhook at its own timestamp (never its arrival).
WITH feed AS (
    SELECT
        creator_id,
        CAST(payload ->> '$.id' AS BIGINT)                                   AS fan_id,
        payload ->> '$.username'                                             AS username,
        payload ->> '$.name'                                                 AS name,
        CAST(payload ->> '$.lastSeen' AS TIMESTAMPTZ)                        AS last_seen_at,
        payload ->> '$.subscribedOnData.status'                              AS subscription_status,
        CAST(payload ->> '$.subscribedOnData.subscribeAt' AS TIMESTAMPTZ)    AS subscribed_at,
        CAST(payload ->> '$.subscribedOnData.expiredAt' AS TIMESTAMPTZ)      AS subscription_expires_at,
        CAST(payload ->> '$.subscribedOnData.renewedAt' AS TIMESTAMPTZ)      AS renewed_at,
        cents(payload ->> '$.subscribedOnData.subscribePrice')              AS subscribe_price_cents,
        cents(payload ->> '$.subscribedOnData.regularPrice')                AS regular_price_cents,
        CAST(payload ->> '$.subscribedOnData.discountPercent' AS DOUBLE)     AS discount_percent,
        -- The API's own running total: for reconciliation only, never the source of spend.
        cents(payload ->> '$.subscribedOnData.totalSumm')                   AS api_total_spend_cents,
        payload -> '$.subscribedOnData.subscribes'                           AS subscribes,
        fetched_at                                                           AS last_fetched_at,
        fetched_at                                                           AS observed_at,
        batch_id,
        item_no
    FROM raw.fans
    QUALIFY row_number() OVER (
        PARTITION BY CAST(payload ->> '$.id' AS BIGINT)
        ORDER BY fetched_at DESC, batch_id DESC, item_no DESC
    ) = 1
),
webhooks AS (
    SELECT
        creator_id,
        CAST(payload ->> '$.user.id' AS BIGINT)                              AS fan_id,
        payload ->> '$.user.username'                                        AS username,
        payload ->> '$.user.name'                                            AS name,
        CASE WHEN event = 'subscriptions.expired' THEN 'expired' ELSE 'active' END
                                                                             AS subscription_status,
        CASE WHEN event = 'subscriptions.new'
            THEN CAST(payload ->> '$.subscribeAt' AS TIMESTAMPTZ) END        AS subscribed_at,
        CAST(payload ->> '$.expiredAt' AS TIMESTAMPTZ)                       AS subscription_expires_at,
        CASE WHEN event = 'subscriptions.renewed'
            THEN CAST(payload ->> '$.subscribeAt' AS TIMESTAMPTZ) END        AS renewed_at,
        cents(payload ->> '$.price')                                         AS subscribe_price_cents,
        cents(payload ->> '$.regularPrice')                                  AS regular_price_cents,
        CAST(payload ->> '$.discount' AS DOUBLE)                             AS discount_percent,
        coalesce(occurred_at, fetched_at)                                    AS observed_at,
        batch_id,
        item_no
    FROM raw.webhook_events
    WHERE event IN ('subscriptions.new', 'subscriptions.renewed', 'subscriptions.expired')
      AND (payload ->> '$.user.id') IS NOT NULL
),
sightings AS (
    SELECT * FROM feed
    UNION ALL BY NAME
    SELECT * FROM webhooks
)
SELECT
    creator_id,
    fan_id,
    arg_max(username, (observed_at, batch_id, item_no)) FILTER (WHERE username IS NOT NULL)
                                                                             AS username,
    arg_max(name, (observed_at, batch_id, item_no)) FILTER (WHERE name IS NOT NULL) AS name,
    max(last_seen_at)                                                        AS last_seen_at,
    arg_max(subscription_status, (observed_at, batch_id, item_no))           AS subscription_status,
    arg_max(subscribed_at, (observed_at, batch_id, item_no))
        FILTER (WHERE subscribed_at IS NOT NULL)                             AS subscribed_at,
    arg_max(subscription_expires_at, (observed_at, batch_id, item_no))
        FILTER (WHERE subscription_expires_at IS NOT NULL)                   AS subscription_expires_at,
    arg_max(renewed_at, (observed_at, batch_id, item_no)) FILTER (WHERE renewed_at IS NOT NULL)
                                                                             AS renewed_at,
    arg_max(subscribe_price_cents, (observed_at, batch_id, item_no))
        FILTER (WHERE subscribe_price_cents IS NOT NULL)                     AS subscribe_price_cents,
    arg_max(regular_price_cents, (observed_at, batch_id, item_no))
        FILTER (WHERE regular_price_cents IS NOT NULL)                       AS regular_price_cents,
    arg_max(discount_percent, (observed_at, batch_id, item_no))
        FILTER (WHERE discount_percent IS NOT NULL)                          AS discount_percent,
    max(api_total_spend_cents)                                               AS api_total_spend_cents,
    max(subscribes)                                                          AS subscribes,
    max(last_fetched_at)                                                     AS last_fetched_at
FROM sightings
GROUP BY creator_id, fan_id
