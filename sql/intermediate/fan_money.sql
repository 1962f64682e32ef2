-- intermediate.fan_money: per fan, what he bought (purchases only) and how his payments ended.
-- One pass over the fan's transactions: every figure is an aggregate with its own filter.
SELECT
    creator_id,
    fan_id,
    CAST(coalesce(sum(amount_cents) FILTER (WHERE is_purchase), 0) AS BIGINT) AS lifetime_spend_cents,
    CAST(coalesce(sum(net_cents) FILTER (WHERE is_purchase), 0) AS BIGINT)    AS lifetime_net_cents,
    count(*) FILTER (WHERE is_purchase)                                       AS purchase_count,
    max(amount_cents) FILTER (WHERE is_purchase)                              AS biggest_purchase_cents,
    min(created_at) FILTER (WHERE is_purchase)                                AS first_purchase_at,
    max(created_at) FILTER (WHERE is_purchase)                                AS last_purchase_at,
    -- Ties on time go to the greatest transaction id.
    arg_max(type, (created_at, transaction_id)) FILTER (WHERE is_purchase)    AS last_purchase_type,
    arg_max(amount_cents, (created_at, transaction_id)) FILTER (WHERE is_purchase)
                                                                              AS last_purchase_cents,
    CAST(coalesce(sum(amount_cents) FILTER (WHERE is_purchase AND type = 'tip'), 0) AS BIGINT)
                                                                              AS tips_cents,
    CAST(coalesce(sum(amount_cents) FILTER (WHERE is_purchase AND type = 'message'), 0) AS BIGINT)
                                                                              AS ppv_cents,
    CAST(coalesce(sum(amount_cents) FILTER (WHERE is_purchase AND type = 'subscription'), 0)
         AS BIGINT)                                                           AS subscription_cents,
    CAST(coalesce(sum(amount_cents) FILTER (WHERE is_purchase AND type = 'post'), 0) AS BIGINT)
                                                                              AS post_cents,
    CAST(coalesce(sum(amount_cents) FILTER (WHERE is_purchase AND type = 'stream'), 0) AS BIGINT)
                                                                              AS stream_cents,
    CAST(coalesce(sum(amount_cents) FILTER (WHERE is_purchase AND type = 'other'), 0) AS BIGINT)
                                                                              AS other_cents,
    CAST(coalesce(sum(amount_cents) FILTER (WHERE is_purchase AND type <> 'subscription'
                                                AND is_custom), 0) AS BIGINT) AS custom_cents,
    count(*) FILTER (WHERE is_purchase AND type = 'message')                  AS ppv_bought_count,
    count(*) FILTER (WHERE status = 'chargeback')                             AS chargeback_count,
    count(*) FILTER (WHERE status = 'refunded')                               AS refund_count
FROM marts.transactions
GROUP BY creator_id, fan_id
