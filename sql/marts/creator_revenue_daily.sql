-- marts.creator_revenue_daily: per creator and UTC day, what fans paid (purchases) and what was
-- refunded or charged back, by the day of the original transaction.
SELECT
    creator_id,
    CAST(created_at AS DATE)                                                  AS day,
    coalesce(sum(amount_cents) FILTER (WHERE is_purchase), 0)                 AS gross_cents,
    coalesce(sum(net_cents) FILTER (WHERE is_purchase), 0)                    AS net_cents,
    count(*) FILTER (WHERE is_purchase)                                       AS purchase_count,
    count(DISTINCT fan_id) FILTER (WHERE is_purchase)                         AS paying_fans,
    coalesce(sum(amount_cents) FILTER (WHERE is_purchase AND type = 'tip'), 0)          AS tips_cents,
    coalesce(sum(amount_cents) FILTER (WHERE is_purchase AND type = 'message'), 0)      AS ppv_cents,
    coalesce(sum(amount_cents) FILTER (WHERE is_purchase AND type = 'subscription'), 0) AS subscription_cents,
    coalesce(sum(amount_cents) FILTER (WHERE is_purchase AND type = 'post'), 0)         AS post_cents,
    coalesce(sum(amount_cents) FILTER (WHERE is_purchase AND type = 'stream'), 0)       AS stream_cents,
    coalesce(sum(amount_cents) FILTER (WHERE is_purchase AND type = 'other'), 0)        AS other_cents,
    coalesce(sum(amount_cents) FILTER (WHERE status = 'refunded'), 0)         AS refunded_cents,
    coalesce(sum(amount_cents) FILTER (WHERE status = 'chargeback'), 0)       AS chargeback_cents,
    as_of()                                                                   AS as_of
FROM marts.transactions
GROUP BY ALL
