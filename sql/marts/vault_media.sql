-- marts.vault_media: the creator's vault items (staging.vault_media, created at or before
-- as_of()), with what the pipeline knows of each: an image the vision tagger can look at, how
-- it was sent (PPV offers, free sends, bundles, prices) and how it sold (marts.fan_asset_status).
--
-- `image_url`: the contract's vault item carries no picture; when the API sends one anyway (an
-- unknown field kept in raw), the first http(s) or data:image URL among `preview`, `thumb`,
-- `squarePreview`, `url`, `full`, `src` and their `{"url": ...}` / `files.<size>.url` forms.
-- `popularity_score` (0-1): 0.4 likes + 0.3 tips + 0.3 buyers, each as its percent rank in the
-- creator's vault.
WITH raw_items AS (
    SELECT CAST(payload ->> '$.id' AS BIGINT) AS media_id, payload::JSON AS p
    FROM raw.vault_media
    QUALIFY row_number() OVER (
        PARTITION BY CAST(payload ->> '$.id' AS BIGINT)
        ORDER BY fetched_at DESC, batch_id DESC, item_no DESC
    ) = 1
),
images AS (
    SELECT
        media_id,
        list_filter(
            [p ->> '$.preview', p ->> '$.preview.url', p ->> '$.thumb', p ->> '$.thumb.url',
             p ->> '$.squarePreview', p ->> '$.url', p ->> '$.full', p ->> '$.full.url',
             p ->> '$.src', p ->> '$.files.preview.url', p ->> '$.files.thumb.url',
             p ->> '$.files.full.url'],
            x -> regexp_matches(coalesce(x, ''), '^(https?://|data:image/)')
        )[1] AS image_url
    FROM raw_items
),
sent AS (
    SELECT fan_id, message_id, created_at, price_cents, is_mass_message,
           len(list_distinct(media_ids)) AS items_in_message, unnest(list_distinct(media_ids)) AS media_id
    FROM staging.messages
    WHERE NOT is_from_fan AND len(media_ids) > 0 AND created_at <= as_of()
),
sends AS (
    SELECT
        media_id,
        count(*) FILTER (WHERE price_cents > 0)                          AS times_offered,
        count(DISTINCT fan_id) FILTER (WHERE price_cents > 0)            AS fans_offered,
        count(*) FILTER (WHERE price_cents > 0 AND items_in_message > 1) AS times_in_bundle,
        CAST(round(median(price_cents) FILTER (WHERE price_cents > 0)) AS BIGINT)
                                                                         AS median_offer_price_cents,
        min(price_cents) FILTER (WHERE price_cents > 0)                  AS min_offer_price_cents,
        max(price_cents) FILTER (WHERE price_cents > 0)                  AS max_offer_price_cents,
        max(created_at) FILTER (WHERE price_cents > 0)                   AS last_offered_at,
        count(*) FILTER (WHERE price_cents = 0)                          AS times_sent_free,
        count(DISTINCT fan_id) FILTER (WHERE price_cents = 0)            AS fans_sent_free
    FROM sent
    GROUP BY media_id
),
sales AS (
    SELECT media_id, count(*) AS buyers, sum(bought_price_cents) AS unlock_cents
    FROM marts.fan_asset_status
    WHERE status = 'bought'
    GROUP BY media_id
),
items AS (
    SELECT
        v.creator_id,
        v.media_id,
        v.media_type,
        v.created_at,
        v.duration_s,
        coalesce(v.likes_count, 0)                      AS likes_count,
        coalesce(v.tips_cents, 0)                       AS tips_cents,
        i.image_url,
        coalesce(s.times_offered, 0)                    AS times_offered,
        coalesce(s.fans_offered, 0)                     AS fans_offered,
        coalesce(s.times_in_bundle, 0)                  AS times_in_bundle,
        s.median_offer_price_cents,
        s.min_offer_price_cents,
        s.max_offer_price_cents,
        s.last_offered_at,
        coalesce(s.times_sent_free, 0)                  AS times_sent_free,
        coalesce(s.fans_sent_free, 0)                   AS fans_sent_free,
        coalesce(b.buyers, 0)                           AS buyers,
        -- gross of the PPV unlocks that carried the item (a bundle's price counts for each item)
        CAST(coalesce(b.unlock_cents, 0) AS BIGINT)     AS unlock_cents,
        v.last_fetched_at
    FROM staging.vault_media AS v
    LEFT JOIN images AS i USING (media_id)
    LEFT JOIN sends AS s USING (media_id)
    LEFT JOIN sales AS b USING (media_id)
    WHERE v.created_at IS NULL OR v.created_at <= as_of()
)
SELECT
    *,
    CASE WHEN fans_offered > 0 THEN round(buyers / fans_offered, 4) END AS conversion_rate,
    round(0.4 * percent_rank() OVER (ORDER BY likes_count)
          + 0.3 * percent_rank() OVER (ORDER BY tips_cents)
          + 0.3 * percent_rank() OVER (ORDER BY buyers), 4)             AS popularity_score,
    as_of()                                                            AS as_of
FROM items
