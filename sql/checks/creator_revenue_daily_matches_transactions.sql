-- Each day of marts.creator_revenue_daily is that UTC day of marts.transactions (the money truth
-- as of as_of()): gross, net, purchases, refunds and chargebacks; and its paying fans are possible
-- beside its purchases (none without one, at least one with one, never more than purchases).
-- Paying fans are not counted again: that would repeat the mart's own query, at twice the cost
-- of everything else here. One row per day that differs, or that only one side has. No row:
-- sum(gross_cents) is the sum of purchase cents.
WITH truth AS (
    SELECT
        creator_id,
        utc_day(created_at)                                                   AS day,
        CAST(coalesce(sum(amount_cents) FILTER (WHERE is_purchase), 0) AS BIGINT)
                                                                              AS gross_cents,
        CAST(coalesce(sum(net_cents) FILTER (WHERE is_purchase), 0) AS BIGINT) AS net_cents,
        count(*) FILTER (WHERE is_purchase)                                   AS purchase_count,
        CAST(coalesce(sum(amount_cents) FILTER (WHERE status = 'refunded'), 0) AS BIGINT)
                                                                              AS refunded_cents,
        CAST(coalesce(sum(amount_cents) FILTER (WHERE status = 'chargeback'), 0) AS BIGINT)
                                                                              AS chargeback_cents
    FROM marts.transactions
    GROUP BY ALL
),
daily AS (
    SELECT creator_id, day, gross_cents, net_cents, purchase_count, paying_fans, refunded_cents,
           chargeback_cents
    FROM marts.creator_revenue_daily
)
SELECT
    creator_id,
    day,
    d.gross_cents                                              AS daily_gross_cents,
    t.gross_cents                                              AS transactions_gross_cents,
    d.net_cents                                                AS daily_net_cents,
    t.net_cents                                                AS transactions_net_cents,
    d.purchase_count                                           AS daily_purchases,
    t.purchase_count                                           AS transactions_purchases,
    CASE WHEN d.day IS NULL THEN 'day of marts.transactions missing from the mart'
         WHEN t.day IS NULL THEN 'day without any transaction'
         ELSE concat_ws('; ',
             nullif(concat_ws(', ',
                 CASE WHEN d.gross_cents <> t.gross_cents THEN 'gross' END,
                 CASE WHEN d.net_cents <> t.net_cents THEN 'net' END,
                 CASE WHEN d.purchase_count <> t.purchase_count THEN 'purchases' END,
                 CASE WHEN d.refunded_cents <> t.refunded_cents THEN 'refunds' END,
                 CASE WHEN d.chargeback_cents <> t.chargeback_cents THEN 'chargebacks' END),
                 '') || ' differ from marts.transactions',
             CASE WHEN d.paying_fans IS NULL
                       OR d.paying_fans NOT BETWEEN least(d.purchase_count, 1) AND d.purchase_count
                  THEN 'paying fans ' || coalesce(CAST(d.paying_fans AS VARCHAR), 'missing')
                       || ' beside ' || d.purchase_count || ' purchases' END)
         END                                                   AS detail
FROM daily AS d
FULL JOIN truth AS t USING (creator_id, day)
WHERE d.day IS NULL
   OR t.day IS NULL
   OR (d.gross_cents, d.net_cents, d.purchase_count, d.refunded_cents, d.chargeback_cents)
      IS DISTINCT FROM (t.gross_cents, t.net_cents, t.purchase_count, t.refunded_cents,
                        t.chargeback_cents)
   OR d.paying_fans IS NULL
   OR d.paying_fans NOT BETWEEN least(d.purchase_count, 1) AND d.purchase_count
