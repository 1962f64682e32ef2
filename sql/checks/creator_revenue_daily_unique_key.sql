-- marts.creator_revenue_daily holds one row per creator and UTC day: each (creator_id, day)
-- found more than once, or a row without its key.
SELECT
    creator_id,
    day,
    count(*)                                                   AS row_count,
    CASE WHEN creator_id IS NULL OR day IS NULL THEN 'a row without its key'
         ELSE count(*) || ' rows for one day' END              AS detail
FROM marts.creator_revenue_daily
GROUP BY creator_id, day
HAVING count(*) > 1 OR creator_id IS NULL OR day IS NULL
