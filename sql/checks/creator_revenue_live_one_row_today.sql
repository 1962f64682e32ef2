-- marts.creator_revenue_live is one row: the run's creator on the UTC day of as_of(). Each row
-- that is not that or repeats it, and a missing row.
WITH live AS (
    SELECT creator_id, day, count(*) OVER (PARTITION BY creator_id, day) AS row_count
    FROM marts.creator_revenue_live
)
SELECT
    creator_id,
    day,
    row_count,
    CASE WHEN creator_id IS DISTINCT FROM getvariable('creator_id') THEN 'another creator'
         WHEN day IS DISTINCT FROM CAST(as_of() AS DATE) THEN 'not the day of as_of'
         ELSE 'the day repeated' END                           AS detail
FROM live
WHERE creator_id IS DISTINCT FROM getvariable('creator_id')
   OR day IS DISTINCT FROM CAST(as_of() AS DATE)
   OR row_count > 1

UNION ALL
SELECT getvariable('creator_id'), CAST(as_of() AS DATE), 0, 'no row for the day of as_of'
WHERE NOT EXISTS (
    SELECT 1 FROM live
    WHERE creator_id = getvariable('creator_id') AND day = CAST(as_of() AS DATE)
)
