-- staging.fans: one row per fan of the creator, from the latest sighting in the `fans/all` feed.
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
    fetched_at                                                           AS last_fetched_at
FROM raw.fans
QUALIFY row_number() OVER (
    PARTITION BY CAST(payload ->> '$.id' AS BIGINT)
    ORDER BY fetched_at DESC, batch_id DESC, item_no DESC
) = 1
