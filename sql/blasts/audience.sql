-- blasts.audience: who a blast sends to, at what price and when; one row per member of the
-- segment (`blast.members`, the segment's membership as last materialized for the creator).
--
-- Variables: blast_id, blast_media_ids (BIGINT[]), blast_price_mode ('fixed' | 'recommended'),
-- blast_price_cents, blast_send_at ('now' | 'best' | 'at'), blast_scheduled_for (the instant of
-- 'at'), blast_holdout_share, blast_recent_hours, blast_include_expired, blast_fans_per_request;
-- `blast.recent_sends` holds the fans another blast of ours sent to lately (the ledger).
--
-- Exclusions, the first that applies names the reason:
--   bought_media          he already has an item of the blast: bought it, or was sent it free
--                         (marts.fan_asset_status `bought` / `sent_free`)
--   subscription_expired  his subscription is `expired` or ended before as_of, unless the
--                         segment says `include_expired: true`
--   deprioritized         deprioritized_until is after as_of (marts.fan_profile)
--   recent_mass_message   a mass message reached him in the last blast_recent_hours: a send with a
--                         queue id in staging.messages, or another blast of ours
-- Of the fans left, a random blast_holdout_share is held out (md5 of blast id and fan id, so the
-- draw is fixed by the blast, recorded, never sent); the rest are sent.
--
-- Price: `fixed`, or `recommended`: his suggested price for the blast's first item when it is
-- among his recommendations (recommended_item), else his top recommendation's (recommended_top),
-- else $14.99 (default). Delivery: 'now' at once (NULL); 'at' the given instant; 'best' the next
-- start of his most active UTC hour (fan_profile.active_hours[1]), at once when that hour is the
-- current one or he has none. Chunks: one API request per price and delivery time, at most
-- blast_fans_per_request fans each, numbered in that order.
WITH members AS (
    SELECT DISTINCT fan_id FROM blast.members
),
fans AS (
    SELECT
        m.fan_id,
        p.subscription_status,
        p.subscription_expires_at,
        p.deprioritized_until,
        p.active_hours
    FROM members AS m
    LEFT JOIN marts.fan_profile AS p USING (fan_id)
),
has_item AS (
    SELECT DISTINCT fan_id
    FROM marts.fan_asset_status
    WHERE list_contains(getvariable('blast_media_ids'), media_id)
      AND status IN ('bought', 'sent_free')
),
recent_mass_message AS (
    SELECT fan_id
    FROM staging.messages
    WHERE is_mass_message AND NOT is_from_fan
      AND created_at > as_of() - to_hours(getvariable('blast_recent_hours'))
      AND created_at <= as_of()
    UNION
    SELECT fan_id
    FROM blast.recent_sends
),
judged AS (
    SELECT
        f.*,
        CASE
            WHEN f.fan_id IN (SELECT fan_id FROM has_item) THEN 'bought_media'
            WHEN NOT getvariable('blast_include_expired')
                 AND (f.subscription_status = 'expired' OR f.subscription_expires_at < as_of())
                THEN 'subscription_expired'
            WHEN f.deprioritized_until > as_of() THEN 'deprioritized'
            WHEN f.fan_id IN (SELECT fan_id FROM recent_mass_message) THEN 'recent_mass_message'
        END AS exclusion
    FROM fans AS f
),
drawn AS (
    SELECT
        *,
        CASE
            WHEN exclusion IS NOT NULL THEN 'excluded'
            WHEN md5_number(getvariable('blast_id') || ':' || fan_id) % 1000000
                 < getvariable('blast_holdout_share') * 1000000 THEN 'holdout'
            ELSE 'send'
        END AS cohort
    FROM judged
),
recommended AS (
    SELECT
        fan_id,
        max(suggested_price_cents) FILTER (
            WHERE media_id = getvariable('blast_media_ids')[1]) AS item_price_cents,
        max(suggested_price_cents) FILTER (WHERE rank = 1) AS top_price_cents
    FROM marts.fan_recommendations
    GROUP BY fan_id
),
priced AS (
    SELECT
        d.*,
        CASE
            WHEN getvariable('blast_price_mode') = 'fixed' THEN getvariable('blast_price_cents')
            ELSE coalesce(r.item_price_cents, r.top_price_cents, 1499)
        END::BIGINT AS price_cents,
        CASE
            WHEN getvariable('blast_price_mode') = 'fixed' AND getvariable('blast_price_cents') = 0
                THEN 'free'
            WHEN getvariable('blast_price_mode') = 'fixed' THEN 'fixed'
            WHEN r.item_price_cents IS NOT NULL THEN 'recommended_item'
            WHEN r.top_price_cents IS NOT NULL THEN 'recommended_top'
            ELSE 'default'
        END AS price_basis,
        CASE getvariable('blast_send_at')
            WHEN 'at' THEN getvariable('blast_scheduled_for')::TIMESTAMPTZ
            WHEN 'best' THEN CASE
                WHEN len(d.active_hours) = 0 OR d.active_hours IS NULL
                     OR d.active_hours[1] = hour(as_of() AT TIME ZONE 'UTC') THEN NULL
                ELSE date_trunc('hour', as_of())
                     + to_hours(((d.active_hours[1] - hour(as_of() AT TIME ZONE 'UTC')) + 24) % 24)
            END
        END AS scheduled_at
    FROM drawn AS d
    LEFT JOIN recommended AS r USING (fan_id)
),
chunked AS (
    SELECT
        *,
        (row_number() OVER (PARTITION BY cohort, price_cents, scheduled_at ORDER BY fan_id) - 1)
            // getvariable('blast_fans_per_request') AS part
    FROM priced
)
SELECT
    fan_id,
    cohort,
    CASE cohort WHEN 'excluded' THEN exclusion WHEN 'holdout' THEN 'holdout' END AS reason,
    price_cents,
    price_basis,
    scheduled_at,
    CASE WHEN cohort = 'send' THEN
        dense_rank() OVER (ORDER BY cohort = 'send' DESC, price_cents, scheduled_at NULLS FIRST,
                                    part)
    END::INTEGER AS chunk_no
FROM chunked
ORDER BY fan_id
