-- marts.fan_ltv before it was ever built for the creator.
SELECT
    CAST(NULL AS VARCHAR) AS creator_id,
    CAST(NULL AS BIGINT)  AS fan_id,
    CAST(NULL AS DOUBLE)  AS probability_alive,
    CAST(NULL AS DOUBLE)  AS churn_probability,
    CAST(NULL AS DOUBLE)  AS expected_purchases_90d,
    CAST(NULL AS BIGINT)  AS expected_spend_90d_cents
WHERE false
