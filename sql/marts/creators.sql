-- marts.creators: one row per creator account, with the headline figures of its fans.
WITH account AS (
    SELECT
        payload ->> '$.id'                                 AS creator_id,
        payload ->> '$.username'                           AS username,
        payload ->> '$.name'                               AS name,
        CAST(payload ->> '$.is_authenticated' AS BOOLEAN)  AS is_authenticated
    FROM raw.accounts
    WHERE payload ->> '$.id' = getvariable('creator_id')
    QUALIFY row_number() OVER (ORDER BY fetched_at DESC) = 1
),
connection AS (
    -- The latest `accounts.connected` / `accounts.disconnected` webhook, by its own time.
    SELECT
        CASE WHEN event = 'accounts.disconnected' THEN 'disconnected' ELSE 'connected' END AS state,
        coalesce(occurred_at, fetched_at)                                                AS changed_at
    FROM raw.webhook_events
    WHERE event IN ('accounts.connected', 'accounts.disconnected')
    QUALIFY row_number() OVER (ORDER BY coalesce(occurred_at, fetched_at) DESC, event_id DESC) = 1
),
figures AS (
    SELECT
        getvariable('creator_id')                                            AS creator_id,
        count(*)                                                             AS fan_count,
        count(*) FILTER (WHERE subscription_status = 'active')               AS active_subscribers,
        count(*) FILTER (WHERE purchase_count > 0)                           AS paying_fans,
        CAST(coalesce(sum(lifetime_spend_cents), 0) AS BIGINT)                               AS lifetime_revenue_cents,
        CAST(coalesce(sum(lifetime_net_cents), 0) AS BIGINT)                                 AS lifetime_net_cents,
        count(*) FILTER (WHERE price_range = 'whale')                        AS whales
    FROM marts.fan_profile
)
SELECT
    figures.creator_id,
    account.username,
    account.name,
    account.is_authenticated,
    (SELECT state FROM connection)                         AS webhook_connection_state,
    (SELECT changed_at FROM connection)                    AS webhook_connection_changed_at,
    figures.fan_count,
    figures.active_subscribers,
    figures.paying_fans,
    figures.whales,
    figures.lifetime_revenue_cents,
    figures.lifetime_net_cents,
    (SELECT max(last_fetched_at) FROM staging.fans)        AS last_synced_at,
    as_of()                                                AS as_of
FROM figures
LEFT JOIN account USING (creator_id)
