-- live.transactions: the transactions the live page and the hot path's alerts read, in the
-- shape of staging.transactions: the last published snapshot's rows (live.snapshot_transactions),
-- with the ones staged from webhook events landed since (live.landed_transactions, staged by
-- sql/staging/transactions.sql itself). A transaction in both keeps the more advanced status,
-- the landed sighting on a tie: staging's rule that a status only moves forward.
SELECT * EXCLUDE (landed)
FROM (
    SELECT *, false AS landed FROM live.snapshot_transactions
    UNION ALL BY NAME
    SELECT *, true AS landed FROM live.landed_transactions
)
QUALIFY row_number() OVER (
    PARTITION BY creator_id, transaction_id
    ORDER BY coalesce(list_position(['pending', 'succeeded', 'refunded', 'chargeback'], status), 0)
                 DESC,
             landed DESC
) = 1
