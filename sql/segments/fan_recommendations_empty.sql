-- marts.fan_recommendations before it was ever built for the creator.
SELECT
    CAST(NULL AS VARCHAR) AS creator_id,
    CAST(NULL AS BIGINT)  AS fan_id,
    CAST(NULL AS INTEGER) AS rank,
    CAST(NULL AS BIGINT)  AS media_id,
    CAST(NULL AS VARCHAR) AS media_type,
    CAST(NULL AS BIGINT)  AS suggested_price_cents,
    CAST(NULL AS VARCHAR) AS reason
WHERE false
