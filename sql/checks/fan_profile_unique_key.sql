-- marts.fan_profile holds one row per fan: each (creator_id, fan_id) found more than once, or a
-- row without its key.
SELECT
    creator_id,
    fan_id,
    count(*)                                                   AS row_count,
    CASE WHEN creator_id IS NULL OR fan_id IS NULL THEN 'a row without its key'
         ELSE count(*) || ' rows for one fan' END              AS detail
FROM marts.fan_profile
GROUP BY creator_id, fan_id
HAVING count(*) > 1 OR creator_id IS NULL OR fan_id IS NULL
