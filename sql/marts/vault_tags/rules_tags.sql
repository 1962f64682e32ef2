-- The metadata rules tagger `vault-rules-v1`: tags every vault item (marts.vault_media) from what
-- the API and the chats say about it, confidence 100 (they are facts, not guesses):
--   type:<photo|video|audio|gif>
--   duration:<short|medium|long>   video/audio with a duration: < 60 s, < 300 s, else long
--   likes:top / likes:low          likes in the top fifth of the creator's vault (more than 80%
--                                  of items have no more likes) / in the bottom fifth (at most
--                                  less than 20% have fewer); only in vaults of 5 items or more
--   tipped, tips:top               tipped at all; tips in the top fifth of the tipped items
--   price:<low|mid|high|whale>     median PPV price it was offered at: < $10, < $50, < $200, more
--   never_offered                  never offered as PPV
--   bundle                         offered in a PPV carrying more than one item
--   bestseller                     bought by someone, and buyers in the top fifth of the vault
--   free_teaser                    sent free to someone
WITH v AS (
    SELECT
        *,
        percent_rank() OVER (ORDER BY likes_count)                         AS likes_low_rank,
        cume_dist() OVER (ORDER BY likes_count)                            AS likes_rank,
        cume_dist() OVER (PARTITION BY tips_cents > 0 ORDER BY tips_cents) AS tips_rank,
        cume_dist() OVER (ORDER BY buyers)                                 AS buyers_rank,
        count(*) OVER ()                                                   AS vault_size
    FROM marts.vault_media
),
tags AS (
    SELECT media_id, 'type:' || media_type AS tag FROM v WHERE media_type IS NOT NULL
    UNION ALL
    SELECT media_id, 'duration:' || CASE WHEN duration_s < 60 THEN 'short'
                                         WHEN duration_s < 300 THEN 'medium'
                                         ELSE 'long' END
    FROM v WHERE media_type IN ('video', 'audio') AND duration_s > 0
    UNION ALL
    SELECT media_id, 'likes:top' FROM v WHERE vault_size >= 5 AND likes_count > 0 AND likes_rank > 0.8
    UNION ALL
    SELECT media_id, 'likes:low' FROM v WHERE vault_size >= 5 AND likes_low_rank < 0.2
    UNION ALL
    SELECT media_id, 'tipped' FROM v WHERE tips_cents > 0
    UNION ALL
    SELECT media_id, 'tips:top' FROM v WHERE tips_cents > 0 AND tips_rank > 0.8
    UNION ALL
    SELECT media_id, 'price:' || CASE WHEN median_offer_price_cents < 1000 THEN 'low'
                                      WHEN median_offer_price_cents < 5000 THEN 'mid'
                                      WHEN median_offer_price_cents < 20000 THEN 'high'
                                      ELSE 'whale' END
    FROM v WHERE median_offer_price_cents IS NOT NULL
    UNION ALL
    SELECT media_id, 'never_offered' FROM v WHERE times_offered = 0
    UNION ALL
    SELECT media_id, 'bundle' FROM v WHERE times_in_bundle > 0
    UNION ALL
    SELECT media_id, 'bestseller' FROM v WHERE buyers > 0 AND buyers_rank > 0.8
    UNION ALL
    SELECT media_id, 'free_teaser' FROM v WHERE times_sent_free > 0
)
SELECT media_id, tag, 100 AS confidence FROM tags
