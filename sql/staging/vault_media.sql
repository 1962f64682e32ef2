-- staging.vault_media: one row per item of the creator's vault, latest sighting.
SELECT
    creator_id,
    CAST(payload ->> '$.id' AS BIGINT)                     AS media_id,
    payload ->> '$.type'                                   AS media_type,
    CAST(payload ->> '$.createdAt' AS TIMESTAMPTZ)         AS created_at,
    CAST(coalesce(payload ->> '$.duration', '0') AS BIGINT) AS duration_s,
    CAST(payload ->> '$.counters.likesCount' AS BIGINT)    AS likes_count,
    cents(payload ->> '$.counters.tipsSumm')               AS tips_cents,
    fetched_at                                             AS last_fetched_at
FROM raw.vault_media
QUALIFY row_number() OVER (
    PARTITION BY CAST(payload ->> '$.id' AS BIGINT)
    ORDER BY fetched_at DESC, batch_id DESC, item_no DESC
) = 1
