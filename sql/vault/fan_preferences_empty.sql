-- marts.fan_preferences before the classifier has written one for the creator: no preferences.
SELECT
    CAST(NULL AS VARCHAR) AS creator_id,
    CAST(NULL AS BIGINT)  AS fan_id,
    CAST(NULL AS VARCHAR) AS content_format_preference,
    CAST(NULL AS VARCHAR) AS length_preference,
    CAST(NULL AS VARCHAR) AS frequency_preference,
    CAST(NULL AS VARCHAR) AS best_opener_type,
    CAST(NULL AS VARCHAR) AS best_offer_type,
    CAST(NULL AS VARCHAR) AS tone_preference,
    CAST(NULL AS BIGINT)  AS custom_interest_level
WHERE false
