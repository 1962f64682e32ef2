-- Each fan's lifetime spend, net and purchase count in marts.fan_profile are his purchases in
-- marts.transactions (the money truth as of as_of()): one row per fan where they differ, a
-- purchaser without a profile row included. No row: sum(lifetime_spend_cents) over the profile
-- is the sum of purchase cents, fan by fan.
WITH purchases AS (
    SELECT
        creator_id,
        fan_id,
        CAST(sum(amount_cents) AS BIGINT)                      AS spend_cents,
        CAST(coalesce(sum(net_cents), 0) AS BIGINT)            AS net_cents,
        count(*)                                               AS purchase_count
    FROM marts.transactions
    WHERE is_purchase
    GROUP BY creator_id, fan_id
),
profile AS (
    SELECT creator_id, fan_id, lifetime_spend_cents, lifetime_net_cents, purchase_count
    FROM marts.fan_profile
)
SELECT
    creator_id,
    fan_id,
    p.lifetime_spend_cents                                     AS profile_spend_cents,
    t.spend_cents                                              AS purchases_cents,
    p.lifetime_net_cents                                       AS profile_net_cents,
    t.net_cents                                                AS purchases_net_cents,
    p.purchase_count                                           AS profile_purchases,
    t.purchase_count                                           AS purchases,
    CASE WHEN p.fan_id IS NULL AND t.fan_id IS NULL THEN 'purchases without a fan id'
         WHEN p.fan_id IS NULL THEN 'purchaser missing from fan_profile'
         ELSE 'fan_profile and marts.transactions disagree' END AS detail
FROM profile AS p
FULL JOIN purchases AS t USING (creator_id, fan_id)
WHERE p.fan_id IS NULL
   OR p.lifetime_spend_cents IS DISTINCT FROM coalesce(t.spend_cents, 0)
   OR p.lifetime_net_cents IS DISTINCT FROM coalesce(t.net_cents, 0)
   OR p.purchase_count IS DISTINCT FROM coalesce(t.purchase_count, 0)
