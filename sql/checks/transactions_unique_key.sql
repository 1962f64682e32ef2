-- marts.transactions holds one row per transaction id: each id found more than once, or a row
-- without one.
SELECT
    transaction_id,
    count(*)                                                   AS row_count,
    CASE WHEN transaction_id IS NULL THEN count(*) || ' rows without a transaction id'
         ELSE count(*) || ' rows for one transaction' END      AS detail
FROM marts.transactions
GROUP BY transaction_id
HAVING count(*) > 1 OR transaction_id IS NULL
