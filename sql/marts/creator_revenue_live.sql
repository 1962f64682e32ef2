-- marts.creator_revenue_live: today's revenue of the creator (the UTC day of as_of()), refreshed
-- by every real-time run, so a dashboard can show money the second it arrives.
SELECT
    getvariable('creator_id')                                          AS creator_id,
    CAST(as_of() AS DATE)                                              AS day,
    coalesce(sum(amount_cents) FILTER (WHERE is_purchase), 0)          AS gross_cents,
    coalesce(sum(net_cents) FILTER (WHERE is_purchase), 0)             AS net_cents,
    count(*) FILTER (WHERE is_purchase)                                AS purchase_count,
    count(DISTINCT fan_id) FILTER (WHERE is_purchase)                  AS paying_fans,
    coalesce(sum(amount_cents) FILTER (WHERE is_purchase AND type = 'tip'), 0)     AS tips_cents,
    coalesce(sum(amount_cents) FILTER (WHERE is_purchase AND type = 'message'), 0) AS ppv_cents,
    max(created_at) FILTER (WHERE is_purchase)                         AS last_purchase_at,
    as_of()                                                            AS as_of
FROM marts.transactions
WHERE CAST(created_at AS DATE) = CAST(as_of() AS DATE)
