-- Every money column of marts.fan_profile sums or picks purchases (amount > 0): none is ever
-- negative. One row per fan and column below zero.
WITH cents AS (
    UNPIVOT (
        SELECT creator_id, fan_id, lifetime_spend_cents, lifetime_net_cents,
               avg_order_value_cents, biggest_purchase_cents, last_purchase_cents, tips_cents,
               ppv_cents, subscription_cents, post_cents, stream_cents
        FROM marts.fan_profile
        -- least() skips nulls: only the fans with a negative amount are unpivoted
        WHERE least(lifetime_spend_cents, lifetime_net_cents, avg_order_value_cents,
                    biggest_purchase_cents, last_purchase_cents, tips_cents, ppv_cents,
                    subscription_cents, post_cents, stream_cents) < 0
    )
    ON lifetime_spend_cents, lifetime_net_cents, avg_order_value_cents, biggest_purchase_cents,
       last_purchase_cents, tips_cents, ppv_cents, subscription_cents, post_cents, stream_cents
    INTO NAME money_column VALUE cents
)
SELECT creator_id, fan_id, money_column, cents, money_column || ' is ' || cents AS detail
FROM cents
WHERE cents < 0
