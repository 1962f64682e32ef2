-- marts.fan_asset_status before it was ever built for the creator: nothing sent to anyone.
SELECT
    CAST(NULL AS VARCHAR) AS creator_id,
    CAST(NULL AS BIGINT)  AS fan_id,
    CAST(NULL AS BIGINT)  AS media_id,
    CAST(NULL AS VARCHAR) AS status
WHERE false
