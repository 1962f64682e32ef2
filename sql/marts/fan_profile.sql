-- marts.fan_profile: one row per fan (creator_id, fan_id), every field as defined in
-- fan-profile.md, computed as of as_of(). Money is integer cents, gross unless named net.
WITH fans AS (
    -- Every fan the creator knows of: listed as a subscriber, paying, or chatting.
    SELECT creator_id, fan_id FROM staging.fans
    UNION
    SELECT creator_id, fan_id FROM marts.transactions
    UNION
    SELECT creator_id, fan_id FROM staging.chats
),
ppv_sent AS (
    -- PPV offers made to this fan personally: mass-message sends do not count.
    SELECT creator_id, fan_id, count(*) AS ppv_sent_count
    FROM staging.messages
    WHERE NOT is_from_fan AND price_cents > 0 AND NOT is_mass_message AND created_at <= as_of()
    GROUP BY ALL
),
paid_periods AS (
    SELECT
        creator_id,
        fan_id,
        count(*)                                                                  AS paid,
        count(*) FILTER (WHERE discount_percent > 0 OR price_cents < regular_price_cents) AS discounted
    FROM staging.subscription_periods
    WHERE price_cents > 0 AND started_at <= as_of()
    GROUP BY ALL
),
money AS (
    SELECT
        *,
        avg_order_cents(lifetime_spend_cents, purchase_count) AS avg_order_value_cents,
        lifetime_spend_cents - subscription_cents AS non_subscription_cents
    FROM intermediate.fan_money
)
SELECT
    fans.creator_id,
    fans.fan_id,
    f.username,
    f.name,
    -- Money & purchases
    coalesce(m.lifetime_spend_cents, 0)                         AS lifetime_spend_cents,
    coalesce(m.lifetime_net_cents, 0)                           AS lifetime_net_cents,
    coalesce(m.purchase_count, 0)                               AS purchase_count,
    m.avg_order_value_cents,
    m.biggest_purchase_cents,
    m.first_purchase_at,
    m.last_purchase_at,
    m.last_purchase_type,
    m.last_purchase_cents,
    coalesce(m.tips_cents, 0)                                   AS tips_cents,
    coalesce(m.ppv_cents, 0)                                    AS ppv_cents,
    coalesce(m.subscription_cents, 0)                           AS subscription_cents,
    coalesce(m.post_cents, 0)                                   AS post_cents,
    coalesce(m.stream_cents, 0)                                 AS stream_cents,
    CASE
        WHEN coalesce(m.purchase_count, 0) = 0 THEN NULL
        WHEN is_whale(m.lifetime_spend_cents, m.purchase_count) THEN 'whale'
        WHEN m.avg_order_value_cents < 1000 THEN 'low'
        WHEN m.avg_order_value_cents < 5000 THEN 'mid'
        ELSE 'high'
    END                                                         AS price_range,
    CASE
        WHEN coalesce(m.purchase_count, 0) = 0 THEN 'non_spender'
        WHEN m.non_subscription_cents = 0 THEN 'subscriber_only'
        WHEN 2 * m.custom_cents >= m.non_subscription_cents THEN 'custom_buyer'
        -- The largest non-subscription spend type; ties go in this order.
        WHEN m.ppv_cents >= greatest(m.tips_cents, m.post_cents, m.stream_cents, m.other_cents)
            THEN 'ppv_buyer'
        WHEN m.tips_cents >= greatest(m.post_cents, m.stream_cents, m.other_cents) THEN 'tipper'
        WHEN m.post_cents >= greatest(m.stream_cents, m.other_cents) THEN 'post_buyer'
        WHEN m.stream_cents >= m.other_cents THEN 'stream_buyer'
        ELSE 'other_buyer'
    END                                                         AS buyer_type,
    coalesce(s.ppv_sent_count, 0)                               AS ppv_sent_count,
    coalesce(m.ppv_bought_count, 0)                             AS ppv_bought_count,
    CASE WHEN s.ppv_sent_count > 0
        THEN least(1.0, coalesce(m.ppv_bought_count, 0) / s.ppv_sent_count)
    END                                                         AS conversion_rate,
    CASE
        WHEN coalesce(d.paid, 0) = 0 THEN NULL
        WHEN d.discounted = 0 THEN 'never'
        WHEN d.discounted = d.paid THEN 'always'
        ELSE 'sometimes'
    END                                                         AS discount_sensitivity,
    coalesce(m.chargeback_count, 0)                             AS chargeback_count,
    coalesce(m.refund_count, 0)                                 AS refund_count,
    coalesce(m.chargeback_count, 0) >= 1 OR coalesce(m.refund_count, 0) >= 2
                                                                AS chargeback_risk,
    -- Subscription
    f.subscribed_at,
    f.subscription_status,
    f.subscription_expires_at,
    as_of()                                                     AS as_of
FROM fans
LEFT JOIN staging.fans AS f USING (creator_id, fan_id)
LEFT JOIN money AS m USING (creator_id, fan_id)
LEFT JOIN ppv_sent AS s USING (creator_id, fan_id)
LEFT JOIN paid_periods AS d USING (creator_id, fan_id)
