-- marts.vault_tags before the creator's vault was ever tagged: no tags.
SELECT
    CAST(NULL AS VARCHAR)     AS creator_id,
    CAST(NULL AS BIGINT)      AS media_id,
    CAST(NULL AS VARCHAR)     AS tag,
    CAST(NULL AS VARCHAR)     AS source,
    CAST(NULL AS VARCHAR)     AS model,
    CAST(NULL AS BIGINT)      AS confidence,
    CAST(NULL AS VARCHAR)     AS input_hash,
    CAST(NULL AS TIMESTAMPTZ) AS tagged_at
WHERE false
