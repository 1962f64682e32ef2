-- intermediate.fan_money: per fan, what he bought (purchases only) and how his payments ended.
WITH purchases AS (
    SELECT
        creator_id,
        fan_id,
        sum(amount_cents)                                               AS lifetime_spend_cents,
        sum(net_cents)                                                  AS lifetime_net_cents,
        count(*)                                                        AS purchase_count,
        max(amount_cents)                                               AS biggest_purchase_cents,
        min(created_at)                                                 AS first_purchase_at,
        max(created_at)                                                 AS last_purchase_at,
        -- Ties on time go to the greatest transaction id.
        arg_max(type, (created_at, transaction_id))                     AS last_purchase_type,
        arg_max(amount_cents, (created_at, transaction_id))             AS last_purchase_cents,
        coalesce(sum(amount_cents) FILTER (WHERE type = 'tip'), 0)          AS tips_cents,
        coalesce(sum(amount_cents) FILTER (WHERE type = 'message'), 0)      AS ppv_cents,
        coalesce(sum(amount_cents) FILTER (WHERE type = 'subscription'), 0) AS subscription_cents,
        coalesce(sum(amount_cents) FILTER (WHERE type = 'post'), 0)         AS post_cents,
        coalesce(sum(amount_cents) FILTER (WHERE type = 'stream'), 0)       AS stream_cents,
        coalesce(sum(amount_cents) FILTER (WHERE type = 'other'), 0)        AS other_cents,
        coalesce(sum(amount_cents) FILTER (WHERE type <> 'subscription' AND is_custom), 0)
                                                                        AS custom_cents,
        count(*) FILTER (WHERE type = 'message')                        AS ppv_bought_count
    FROM marts.transactions
    WHERE is_purchase
    GROUP BY ALL
),
outcomes AS (
    SELECT
        creator_id,
        fan_id,
        count(*) FILTER (WHERE status = 'chargeback') AS chargeback_count,
        count(*) FILTER (WHERE status = 'refunded')   AS refund_count
    FROM marts.transactions
    GROUP BY ALL
)
SELECT
    creator_id,
    fan_id,
    coalesce(p.lifetime_spend_cents, 0)  AS lifetime_spend_cents,
    coalesce(p.lifetime_net_cents, 0)    AS lifetime_net_cents,
    coalesce(p.purchase_count, 0)        AS purchase_count,
    p.biggest_purchase_cents,
    p.first_purchase_at,
    p.last_purchase_at,
    p.last_purchase_type,
    p.last_purchase_cents,
    coalesce(p.tips_cents, 0)            AS tips_cents,
    coalesce(p.ppv_cents, 0)             AS ppv_cents,
    coalesce(p.subscription_cents, 0)    AS subscription_cents,
    coalesce(p.post_cents, 0)            AS post_cents,
    coalesce(p.stream_cents, 0)          AS stream_cents,
    coalesce(p.other_cents, 0)           AS other_cents,
    coalesce(p.custom_cents, 0)          AS custom_cents,
    coalesce(p.ppv_bought_count, 0)      AS ppv_bought_count,
    coalesce(o.chargeback_count, 0)      AS chargeback_count,
    coalesce(o.refund_count, 0)          AS refund_count
FROM outcomes AS o
LEFT JOIN purchases AS p USING (creator_id, fan_id)
