-- marts.creator_revenue_live: today's revenue of the creator (the UTC day of as_of()), refreshed
-- by every real-time run, so a dashboard can show money the second it arrives. Today's row of
-- creator_revenue_daily, or zeros before the first purchase of the day.
SELECT
    getvariable('creator_id')                           AS creator_id,
    CAST(as_of() AS DATE)                               AS day,
    coalesce(d.gross_cents, 0)                          AS gross_cents,
    coalesce(d.net_cents, 0)                            AS net_cents,
    coalesce(d.purchase_count, 0)                       AS purchase_count,
    coalesce(d.paying_fans, 0)                          AS paying_fans,
    coalesce(d.tips_cents, 0)                           AS tips_cents,
    coalesce(d.ppv_cents, 0)                            AS ppv_cents,
    d.last_purchase_at,
    as_of()                                             AS as_of
FROM (SELECT 1) AS today
LEFT JOIN marts.creator_revenue_daily AS d ON d.day = CAST(as_of() AS DATE)
