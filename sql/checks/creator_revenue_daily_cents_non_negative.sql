-- The purchase columns of marts.creator_revenue_daily sum purchases (amount > 0) and are never
-- negative. refunded_cents and chargeback_cents sum what refunded and charged-back transactions
-- carry, which the API may send as negative reversals: they are not judged here.
WITH cents AS (
    UNPIVOT (
        SELECT creator_id, day, gross_cents, net_cents, tips_cents, ppv_cents,
               subscription_cents, post_cents, stream_cents, other_cents
        FROM marts.creator_revenue_daily
        WHERE least(gross_cents, net_cents, tips_cents, ppv_cents, subscription_cents,
                    post_cents, stream_cents, other_cents) < 0
    )
    ON gross_cents, net_cents, tips_cents, ppv_cents, subscription_cents, post_cents,
       stream_cents, other_cents
    INTO NAME money_column VALUE cents
)
SELECT creator_id, day, money_column, cents, money_column || ' is ' || cents AS detail
FROM cents
WHERE cents < 0
