-- The baseline: one hand-written DuckDB query computing the fan money fields straight from the
-- staged tables, as an analyst would write it without the pipeline's models.
WITH t AS (
    SELECT *,
        CASE WHEN status = 'chargeback' AND chargeback_at > getvariable('as_of')
             THEN status_before_chargeback ELSE status END AS st
    FROM read_parquet(getvariable('transactions'))
    WHERE created_at <= getvariable('as_of')
),
agg AS (
    SELECT creator_id, fan_id,
        sum(amount_cents) FILTER (WHERE st = 'succeeded' AND amount_cents > 0) AS spend,
        sum(net_cents) FILTER (WHERE st = 'succeeded' AND amount_cents > 0) AS net,
        count(*) FILTER (WHERE st = 'succeeded' AND amount_cents > 0) AS n,
        max(amount_cents) FILTER (WHERE st = 'succeeded' AND amount_cents > 0) AS biggest,
        min(created_at) FILTER (WHERE st = 'succeeded' AND amount_cents > 0) AS first_at,
        max(created_at) FILTER (WHERE st = 'succeeded' AND amount_cents > 0) AS last_at,
        arg_max(type, (created_at, transaction_id)) FILTER (WHERE st = 'succeeded' AND amount_cents > 0) AS last_type,
        arg_max(amount_cents, (created_at, transaction_id)) FILTER (WHERE st = 'succeeded' AND amount_cents > 0) AS last_cents,
        coalesce(sum(amount_cents) FILTER (WHERE st = 'succeeded' AND amount_cents > 0 AND type = 'tip'), 0) AS tips,
        coalesce(sum(amount_cents) FILTER (WHERE st = 'succeeded' AND amount_cents > 0 AND type = 'message'), 0) AS ppv,
        coalesce(sum(amount_cents) FILTER (WHERE st = 'succeeded' AND amount_cents > 0 AND type = 'subscription'), 0) AS subs,
        coalesce(sum(amount_cents) FILTER (WHERE st = 'succeeded' AND amount_cents > 0 AND type = 'post'), 0) AS post,
        coalesce(sum(amount_cents) FILTER (WHERE st = 'succeeded' AND amount_cents > 0 AND type = 'stream'), 0) AS stream,
        coalesce(sum(amount_cents) FILTER (WHERE st = 'succeeded' AND amount_cents > 0 AND type = 'other'), 0) AS other,
        coalesce(sum(amount_cents) FILTER (WHERE st = 'succeeded' AND amount_cents > 0 AND type <> 'subscription' AND is_custom), 0) AS custom,
        count(*) FILTER (WHERE st = 'succeeded' AND amount_cents > 0 AND type = 'message') AS bought,
        count(*) FILTER (WHERE st = 'chargeback') AS chargebacks,
        count(*) FILTER (WHERE st = 'refunded') AS refunds
    FROM t GROUP BY ALL
),
sent AS (
    -- Personal and mass sends alike (fan-profile.md, ppv_sent_count).
    SELECT creator_id, fan_id, count(*) AS sent FROM read_parquet(getvariable('messages'))
    WHERE NOT is_from_fan AND price_cents > 0 AND created_at <= getvariable('as_of')
    GROUP BY ALL
),
periods AS (
    SELECT creator_id, fan_id, count(*) AS paid,
           count(*) FILTER (WHERE discount_percent > 0 OR price_cents < regular_price_cents) AS disc
    FROM read_parquet(getvariable('periods'))
    WHERE price_cents > 0 AND started_at <= getvariable('as_of')
    GROUP BY ALL
),
fans AS (
    SELECT creator_id, fan_id FROM read_parquet(getvariable('fans'))
    UNION SELECT creator_id, fan_id FROM t
    UNION SELECT creator_id, fan_id FROM read_parquet(getvariable('chats'))
)
SELECT fans.creator_id, fans.fan_id,
    coalesce(spend, 0) AS lifetime_spend_cents, coalesce(net, 0) AS lifetime_net_cents,
    coalesce(n, 0) AS purchase_count,
    CASE WHEN n > 0 THEN (2 * spend + n) // (2 * n) END AS avg_order_value_cents,
    biggest AS biggest_purchase_cents, first_at AS first_purchase_at, last_at AS last_purchase_at,
    last_type AS last_purchase_type, last_cents AS last_purchase_cents,
    coalesce(tips, 0) AS tips_cents, coalesce(ppv, 0) AS ppv_cents,
    coalesce(subs, 0) AS subscription_cents, coalesce(post, 0) AS post_cents,
    coalesce(stream, 0) AS stream_cents,
    CASE WHEN coalesce(n, 0) = 0 THEN NULL
         WHEN spend >= 100000 OR (2 * spend + n) // (2 * n) >= 20000 THEN 'whale'
         WHEN (2 * spend + n) // (2 * n) < 1000 THEN 'low'
         WHEN (2 * spend + n) // (2 * n) < 5000 THEN 'mid' ELSE 'high' END AS price_range,
    CASE WHEN coalesce(n, 0) = 0 THEN 'non_spender'
         WHEN spend - subs = 0 THEN 'subscriber_only'
         WHEN 2 * custom >= spend - subs THEN 'custom_buyer'
         WHEN ppv >= greatest(tips, post, stream, other) THEN 'ppv_buyer'
         WHEN tips >= greatest(post, stream, other) THEN 'tipper'
         WHEN post >= greatest(stream, other) THEN 'post_buyer'
         WHEN stream >= other THEN 'stream_buyer' ELSE 'other_buyer' END AS buyer_type,
    coalesce(sent, 0) AS ppv_sent_count, coalesce(bought, 0) AS ppv_bought_count,
    CASE WHEN sent > 0 THEN least(1.0, coalesce(bought, 0) / sent) END AS conversion_rate,
    CASE WHEN coalesce(paid, 0) = 0 THEN NULL WHEN disc = 0 THEN 'never'
         WHEN disc = paid THEN 'always' ELSE 'sometimes' END AS discount_sensitivity,
    coalesce(chargebacks, 0) AS chargeback_count, coalesce(refunds, 0) AS refund_count,
    coalesce(chargebacks, 0) >= 1 OR coalesce(refunds, 0) >= 2 AS chargeback_risk
FROM fans
LEFT JOIN agg USING (creator_id, fan_id)
LEFT JOIN sent USING (creator_id, fan_id)
LEFT JOIN periods USING (creator_id, fan_id)
