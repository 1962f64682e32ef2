-- marts.fan_recommendations: per fan, the top `rec_top_k` vault items for him, each with a score
-- (0-100), why, and a suggested price from his own price range.
--
-- Reads marts.fan_preferences and marts.vault_tags: empty tables of their shape before the
-- classifier or the tagger ever ran.
--
-- Left out: what he has (`bought`, or `sent_free`: a free send already unlocked it), and what was
-- offered to him in the last `rec_exclude_days` days (as of as_of()); items created after as_of().
-- An older unbought offer can come back (`item_status` says so).
--
-- Score = 35 format + 25 revealed + 10 length + 10 tone + 5 offer + 15 popularity, where each part
-- is a fit in 0..1:
--   format     his content_format_preference (marts.fan_preferences) is the item's type (a gif
--              fits a photo or video preference half); `bundle` fits items offered in bundles
--   revealed   the share of the items he bought that are of the item's type
--   length     his length_preference is the item's duration tag (duration:short|medium|long)
--   tone       his tone_preference seen in the picture (vision tags: playful → mood:playful,
--              romantic → mood:romantic, assertive → mood:dominant, direct → style:explicit),
--              weighted by the tag's confidence
--   offer      his best_offer_type: bundle → offered in bundles; behind_scenes → the vision tag
--              style:behind_scenes; limited_drop → uploaded in the last `rec_new_days` days
--   popularity the item's popularity_score (marts.vault_media)
-- A fan nobody has classified and who bought nothing is ranked by popularity alone. Ties: the
-- more popular item, then the newer, then the smaller media id.
--
-- Suggested price: an anchor (his median PPV unlock price; else his avg_order_value_cents; else
-- the item's median offer price; else the creator's median PPV offer price; else $15) times the
-- item's price relative to the creator's median offer (held to 0.75-1.5), made a .99 price, then
-- held to his fan_profile.price_range: low $3-$9.99, mid $10-$49.99, high $50-$199.99,
-- whale $20-$200, none yet (no purchase) $3-$14.99.
WITH items AS (
    SELECT
        v.media_id,
        v.media_type,
        v.created_at,
        v.popularity_score,
        v.median_offer_price_cents,
        coalesce(bool_or(t.tag = 'bundle'), false)                                  AS is_bundle,
        max(CASE WHEN t.tag LIKE 'duration:%' THEN substr(t.tag, 10) END)           AS duration,
        coalesce(max(t.confidence) FILTER (WHERE t.tag = 'mood:playful'), 0) / 100   AS playful,
        coalesce(max(t.confidence) FILTER (WHERE t.tag = 'mood:romantic'), 0) / 100  AS romantic,
        coalesce(max(t.confidence) FILTER (WHERE t.tag = 'mood:dominant'), 0) / 100  AS dominant,
        coalesce(max(t.confidence) FILTER (WHERE t.tag = 'style:explicit'), 0) / 100 AS explicit,
        coalesce(max(t.confidence) FILTER (WHERE t.tag = 'style:behind_scenes'), 0) / 100
                                                                                     AS behind_scenes,
        any_value(v.created_at >= as_of() - to_days(CAST(getvariable('rec_new_days') AS INTEGER)))
                                                                                     AS is_new
    FROM marts.vault_media AS v
    LEFT JOIN marts.vault_tags AS t USING (media_id)
    GROUP BY v.media_id, v.media_type, v.created_at, v.popularity_score, v.median_offer_price_cents
),
creator_price AS (
    SELECT CAST(round(median(price_cents)) AS BIGINT) AS median_offer_cents
    FROM staging.messages
    WHERE NOT is_from_fan AND price_cents > 0 AND created_at <= as_of()
),
bought_types AS (
    -- his revealed taste: the share of the items he bought, per type
    SELECT s.fan_id, v.media_type, count(*) / sum(count(*)) OVER (PARTITION BY s.fan_id) AS share,
           count(*) AS n
    FROM marts.fan_asset_status AS s
    JOIN marts.vault_media AS v USING (media_id)
    WHERE s.status = 'bought'
    GROUP BY s.fan_id, v.media_type
),
ppv_price AS (
    SELECT fan_id, CAST(round(median(amount_cents)) AS BIGINT) AS median_ppv_cents
    FROM marts.transactions
    WHERE is_purchase AND type = 'message'
    GROUP BY fan_id
),
fans AS (
    SELECT
        p.creator_id,
        p.fan_id,
        p.price_range,
        p.avg_order_value_cents,
        pp.median_ppv_cents,
        fp.content_format_preference AS format_pref,
        fp.length_preference         AS length_pref,
        fp.tone_preference           AS tone_pref,
        fp.best_offer_type           AS offer_pref
    FROM marts.fan_profile AS p
    LEFT JOIN marts.fan_preferences AS fp USING (fan_id)
    LEFT JOIN ppv_price AS pp USING (fan_id)
),
candidates AS (
    SELECT
        f.*,
        i.*,
        s.status AS held_status,
        s.last_offered_at,
        coalesce(b.share, 0) AS revealed_fit,
        coalesce(b.n, 0)     AS bought_of_type
    FROM fans AS f
    CROSS JOIN items AS i
    LEFT JOIN marts.fan_asset_status AS s ON s.fan_id = f.fan_id AND s.media_id = i.media_id
    LEFT JOIN bought_types AS b ON b.fan_id = f.fan_id AND b.media_type = i.media_type
    WHERE (i.created_at IS NULL OR i.created_at <= as_of())
      AND coalesce(s.status, 'never_sent') NOT IN ('bought', 'sent_free')
      AND (s.last_offered_at IS NULL
           OR s.last_offered_at < as_of() - to_days(CAST(getvariable('rec_exclude_days') AS INTEGER)))
),
fits AS (
    SELECT
        *,
        CASE
            WHEN format_pref IS NULL OR format_pref = 'text' THEN 0.0
            WHEN format_pref = 'bundle' THEN CASE WHEN is_bundle THEN 1.0 ELSE 0.0 END
            WHEN media_type = format_pref THEN 1.0
            WHEN media_type = 'gif' AND format_pref IN ('photo', 'video') THEN 0.5
            ELSE 0.0
        END AS format_fit,
        CASE WHEN length_pref IS NOT NULL AND duration = length_pref THEN 1.0 ELSE 0.0 END
            AS length_fit,
        CASE tone_pref
            WHEN 'playful' THEN playful
            WHEN 'romantic' THEN romantic
            WHEN 'assertive' THEN dominant
            WHEN 'direct' THEN explicit
            ELSE 0.0
        END AS tone_fit,
        CASE offer_pref
            WHEN 'bundle' THEN CASE WHEN is_bundle THEN 1.0 ELSE 0.0 END
            WHEN 'behind_scenes' THEN behind_scenes
            WHEN 'limited_drop' THEN CASE WHEN is_new THEN 1.0 ELSE 0.0 END
            ELSE 0.0
        END AS offer_fit
    FROM candidates
),
scored AS (
    SELECT
        *,
        round(35 * format_fit + 25 * revealed_fit + 10 * length_fit + 10 * tone_fit
              + 5 * offer_fit + 15 * coalesce(popularity_score, 0), 2) AS score
    FROM fits
),
ranked AS (
    SELECT *, row_number() OVER (
        PARTITION BY fan_id
        ORDER BY score DESC, popularity_score DESC NULLS LAST, created_at DESC NULLS LAST, media_id
    ) AS rank
    FROM scored
    QUALIFY rank <= CAST(getvariable('rec_top_k') AS INTEGER)
),
priced AS (
    SELECT
        r.*,
        CASE
            WHEN median_ppv_cents IS NOT NULL THEN 'his_median_ppv'
            WHEN avg_order_value_cents IS NOT NULL THEN 'his_avg_order'
            WHEN median_offer_price_cents IS NOT NULL THEN 'item_median_offer'
            WHEN cp.median_offer_cents IS NOT NULL THEN 'creator_median_offer'
            ELSE 'default'
        END AS price_basis,
        coalesce(median_ppv_cents, avg_order_value_cents, median_offer_price_cents,
                 cp.median_offer_cents, 1500)
        * CASE
            WHEN median_offer_price_cents IS NOT NULL AND cp.median_offer_cents > 0
                 AND coalesce(median_ppv_cents, avg_order_value_cents) IS NOT NULL
                THEN greatest(0.75, least(1.5, median_offer_price_cents / cp.median_offer_cents))
            ELSE 1.0
          END AS raw_price_cents,
        CASE price_range
            WHEN 'low' THEN [300, 999]
            WHEN 'mid' THEN [1000, 4999]
            WHEN 'high' THEN [5000, 19999]
            WHEN 'whale' THEN [2000, 20000]
            ELSE [300, 1499]
        END AS band
    FROM ranked AS r
    CROSS JOIN creator_price AS cp
)
SELECT
    creator_id,
    fan_id,
    CAST(rank AS INTEGER)                                               AS rank,
    media_id,
    media_type,
    score,
    round(format_fit, 3)                                                AS format_fit,
    round(revealed_fit, 3)                                              AS revealed_fit,
    round(length_fit, 3)                                                AS length_fit,
    round(tone_fit, 3)                                                  AS tone_fit,
    round(offer_fit, 3)                                                 AS offer_fit,
    popularity_score,
    coalesce(held_status, 'never_sent')                                 AS item_status,
    last_offered_at,
    CAST(greatest(band[1], least(band[2],
        greatest(300, CAST(round(raw_price_cents / 100) AS BIGINT) * 100 - 1))) AS BIGINT)
                                                                        AS suggested_price_cents,
    price_basis,
    price_range,
    concat_ws('; ',
        CASE WHEN format_fit = 1 AND format_pref = 'bundle' THEN 'sold in bundles (he prefers bundles)'
             WHEN format_fit > 0 THEN 'a ' || media_type || ' (he prefers ' || format_pref || ')' END,
        CASE WHEN revealed_fit > 0 THEN 'he bought ' || bought_of_type || ' ' || media_type
             || CASE WHEN bought_of_type = 1 THEN '' ELSE 's' END || ' before' END,
        CASE WHEN length_fit > 0 THEN duration || ' (he prefers ' || length_pref || ')' END,
        CASE WHEN tone_fit > 0 THEN 'looks ' || tone_pref END,
        CASE WHEN offer_fit > 0 THEN 'fits his best offer (' || offer_pref || ')' END,
        'popularity ' || CAST(round(100 * coalesce(popularity_score, 0)) AS INTEGER) || '/100',
        CASE WHEN held_status = 'offered_unbought'
             THEN 'offered before, not in the last ' || getvariable('rec_exclude_days') || ' days' END
    )                                                                   AS reason,
    format_pref                                                         AS content_format_preference,
    as_of()                                                             AS as_of
FROM priced
