-- staging.vault_media: one row per item of the creator's vault, from its latest sighting that
-- staging.cast_rejects did not set aside. TRY_CAST turns a value it let through yet does not cast
-- into NULL, for the schema check to report, instead of failing the model.
WITH sightings AS (
    SELECT
        r.*,
        from_json(r.payload, '{
            "id": "VARCHAR", "type": "VARCHAR", "createdAt": "VARCHAR", "duration": "VARCHAR",
            "counters": {"likesCount": "VARCHAR", "tipsSumm": "VARCHAR"}}') AS v
    FROM raw.vault_media AS r
    ANTI JOIN staging.cast_rejects AS bad
        ON bad.source_table = 'vault_media' AND bad.batch_id = r.batch_id
       AND bad.item_no = r.item_no
)
SELECT
    creator_id,
    TRY_CAST(v.id AS BIGINT)                                    AS media_id,
    v.type                                                      AS media_type,
    TRY_CAST(v.createdAt AS TIMESTAMPTZ)                        AS created_at,
    TRY_CAST(coalesce(v.duration, '0') AS BIGINT)               AS duration_s,
    TRY_CAST(v.counters.likesCount AS BIGINT)                   AS likes_count,
    cents(TRY_CAST(v.counters.tipsSumm AS DECIMAL(18, 4)))      AS tips_cents,
    fetched_at                                                  AS last_fetched_at
FROM sightings
QUALIFY row_number() OVER (
    PARTITION BY media_id
    ORDER BY fetched_at DESC, batch_id DESC, item_no DESC
) = 1
