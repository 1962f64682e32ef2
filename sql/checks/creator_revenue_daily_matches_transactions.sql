-- Each day of marts.creator_revenue_daily is that UTC day of marts.transactions (the money truth
-- as of as_of()): gross, net, purchases, paying fans, refunds and chargebacks. One row per day
-- that differs, or that only one side has. No row: sum(gross_cents) is the sum of purchase cents.
WITH truth AS (
    SELECT
        creator_id,
        utc_day(created_at)                                                   AS day,
        CAST(coalesce(sum(amount_cents) FILTER (WHERE is_purchase), 0) AS BIGINT)
                                                                              AS gross_cents,
        CAST(coalesce(sum(net_cents) FILTER (WHERE is_purchase), 0) AS BIGINT) AS net_cents,
        count(*) FILTER (WHERE is_purchase)                                   AS purchase_count,
        count(DISTINCT fan_id) FILTER (WHERE is_purchase)                     AS paying_fans,
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
         ELSE concat_ws(', ',
             CASE WHEN d.gross_cents <> t.gross_cents THEN 'gross' END,
             CASE WHEN d.net_cents <> t.net_cents THEN 'net' END,
             CASE WHEN d.purchase_count <> t.purchase_count THEN 'purchases' END,
             CASE WHEN d.paying_fans <> t.paying_fans THEN 'paying fans' END,
             CASE WHEN d.refunded_cents <> t.refunded_cents THEN 'refunds' END,
             CASE WHEN d.chargeback_cents <> t.chargeback_cents THEN 'chargebacks' END)
             || ' differ from marts.transactions' END          AS detail
FROM daily AS d
FULL JOIN truth AS t USING (creator_id, day)
WHERE d.day IS NULL
   OR t.day IS NULL
   OR (d.gross_cents, d.net_cents, d.purchase_count, d.paying_fans, d.refunded_cents,
       d.chargeback_cents)
      IS DISTINCT FROM (t.gross_cents, t.net_cents, t.purchase_count, t.paying_fans,
                        t.refunded_cents, t.chargeback_cents)
