-- segments.base: what a segment filters and exports, one row per fan of marts.fan_profile: his
-- profile, his lifetime value (marts.fan_ltv) and his top recommendation (marts.fan_recommendations,
-- rank 1), so a mass message can send each member the item that fits him at his price.
SELECT
    p.*,
    l.probability_alive,
    l.churn_probability,
    l.expected_purchases_90d,
    l.expected_spend_90d_cents,
    r.media_id              AS recommended_media_id,
    r.media_type            AS recommended_media_type,
    r.suggested_price_cents,
    r.reason                AS recommendation_reason
FROM marts.fan_profile AS p
LEFT JOIN marts.fan_ltv AS l USING (creator_id, fan_id)
LEFT JOIN (SELECT * FROM marts.fan_recommendations WHERE rank = 1) AS r USING (creator_id, fan_id)
-- (Marts never built yet are empty tables of their shape.)
