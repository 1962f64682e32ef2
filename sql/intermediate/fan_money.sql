-- intermediate.fan_money: every money & purchases field of the fan profile (fan-profile.md), and
-- the 30-day purchases the time-waster score weighs; one row per fan with a transaction, a PPV
-- offer or a paid subscription period. Each source is read once: every figure is an
-- aggregate with its own filter. fan_profile fills in the fans missing here (no money at all).
WITH purchases AS (
    SELECT
        creator_id,
        fan_id,
        CAST(coalesce(sum(amount_cents) FILTER (WHERE is_purchase), 0) AS BIGINT) AS lifetime_spend_cents,
        CAST(coalesce(sum(net_cents) FILTER (WHERE is_purchase), 0) AS BIGINT)    AS lifetime_net_cents,
        count(*) FILTER (WHERE is_purchase)                                       AS purchase_count,
        max(amount_cents) FILTER (WHERE is_purchase)                              AS biggest_purchase_cents,
        min(created_at) FILTER (WHERE is_purchase)                                AS first_purchase_at,
        max(created_at) FILTER (WHERE is_purchase)                                AS last_purchase_at,
        -- The last purchase; ties on time go to the greatest transaction id.
        arg_max({'type': type, 'cents': amount_cents}, (created_at, transaction_id))
            FILTER (WHERE is_purchase)                                            AS last_purchase,
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
        count(*) FILTER (WHERE status = 'refunded')                               AS refund_count,
        CAST(coalesce(sum(amount_cents) FILTER (WHERE is_purchase AND within_days(created_at, 30)),
                      0) AS BIGINT)                                               AS purchase_cents_30d
    FROM marts.transactions
    GROUP BY creator_id, fan_id
),
ppv_sent AS (
    -- Priced creator messages in the fan's chat, personal and mass sends alike: a mass PPV that
    -- reached his chat was offered to him, and its unlock is a `message` purchase like any other,
    -- so leaving it out would count purchases of offers never made.
    SELECT creator_id, fan_id, count(*) AS ppv_sent_count
    FROM staging.messages
    WHERE NOT is_from_fan AND price_cents > 0 AND created_at <= as_of()
    GROUP BY ALL
),
discounts AS (
    -- Over the fan's paid subscription periods: how many were discounted.
    SELECT
        creator_id,
        fan_id,
        CASE
            WHEN count(*) FILTER (WHERE discount_percent > 0 OR price_cents < regular_price_cents) = 0
                THEN 'never'
            WHEN count(*) FILTER (WHERE discount_percent > 0 OR price_cents < regular_price_cents)
                 = count(*)
                THEN 'always'
            ELSE 'sometimes'
        END AS discount_sensitivity
    FROM staging.subscription_periods
    WHERE price_cents > 0 AND started_at <= as_of()
    GROUP BY ALL
),
money AS (
    SELECT
        creator_id,
        fan_id,
        p.* EXCLUDE (creator_id, fan_id, last_purchase),
        coalesce(p.purchase_count, 0)                                    AS purchases_made,
        avg_order_cents(p.lifetime_spend_cents, p.purchase_count)        AS avg_order_value_cents,
        p.lifetime_spend_cents - p.subscription_cents                    AS non_subscription_cents,
        p.last_purchase.type                                             AS last_purchase_type,
        p.last_purchase.cents                                            AS last_purchase_cents,
        coalesce(s.ppv_sent_count, 0)                                    AS ppv_sent_count,
        d.discount_sensitivity
    FROM purchases AS p
    FULL JOIN ppv_sent AS s USING (creator_id, fan_id)
    FULL JOIN discounts AS d USING (creator_id, fan_id)
)
SELECT
    creator_id,
    fan_id,
    coalesce(lifetime_spend_cents, 0)                           AS lifetime_spend_cents,
    coalesce(lifetime_net_cents, 0)                             AS lifetime_net_cents,
    purchases_made                                              AS purchase_count,
    avg_order_value_cents,
    biggest_purchase_cents,
    first_purchase_at,
    last_purchase_at,
    last_purchase_type,
    last_purchase_cents,
    coalesce(tips_cents, 0)                                     AS tips_cents,
    coalesce(ppv_cents, 0)                                      AS ppv_cents,
    coalesce(subscription_cents, 0)                             AS subscription_cents,
    coalesce(post_cents, 0)                                     AS post_cents,
    coalesce(stream_cents, 0)                                   AS stream_cents,
    coalesce(other_cents, 0)                                    AS other_cents,
    coalesce(custom_cents, 0)                                   AS custom_cents,
    CASE
        WHEN purchases_made = 0 THEN NULL
        WHEN is_whale(lifetime_spend_cents, purchases_made) THEN 'whale'
        WHEN avg_order_value_cents < 1000 THEN 'low'
        WHEN avg_order_value_cents < 5000 THEN 'mid'
        ELSE 'high'
    END                                                         AS price_range,
    CASE
        WHEN purchases_made = 0 THEN 'non_spender'
        WHEN non_subscription_cents = 0 THEN 'subscriber_only'
        WHEN 2 * custom_cents >= non_subscription_cents THEN 'custom_buyer'
        -- The largest non-subscription spend type; ties go in this order.
        WHEN ppv_cents >= greatest(tips_cents, post_cents, stream_cents, other_cents) THEN 'ppv_buyer'
        WHEN tips_cents >= greatest(post_cents, stream_cents, other_cents) THEN 'tipper'
        WHEN post_cents >= greatest(stream_cents, other_cents) THEN 'post_buyer'
        WHEN stream_cents >= other_cents THEN 'stream_buyer'
        ELSE 'other_buyer'
    END                                                         AS buyer_type,
    ppv_sent_count,
    coalesce(ppv_bought_count, 0)                               AS ppv_bought_count,
    CASE WHEN ppv_sent_count > 0
        THEN least(1.0, coalesce(ppv_bought_count, 0) / ppv_sent_count)
    END                                                         AS conversion_rate,
    discount_sensitivity,
    coalesce(chargeback_count, 0)                               AS chargeback_count,
    coalesce(refund_count, 0)                                   AS refund_count,
    coalesce(chargeback_count, 0) >= 1 OR coalesce(refund_count, 0) >= 2
                                                                AS chargeback_risk,
    coalesce(purchase_cents_30d, 0)                             AS purchase_cents_30d
FROM money
