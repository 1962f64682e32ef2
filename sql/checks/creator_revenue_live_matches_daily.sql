-- Today's revenue is today's row of marts.creator_revenue_daily (zeros before the day's first
-- purchase): one row per figure that differs.
WITH live AS (
    SELECT creator_id, day, gross_cents, net_cents, purchase_count, paying_fans, tips_cents,
           ppv_cents
    FROM marts.creator_revenue_live
),
daily AS (
    SELECT creator_id, day, gross_cents, net_cents, purchase_count, paying_fans, tips_cents,
           ppv_cents
    FROM marts.creator_revenue_daily
    WHERE day = CAST(as_of() AS DATE)
),
compared AS (
    -- One (live, daily) pair per figure, unpivoted so each differing figure is a row.
    UNPIVOT (
        SELECT
            creator_id,
            day,
            {'live': l.gross_cents, 'daily': coalesce(d.gross_cents, 0)}        AS gross_cents,
            {'live': l.net_cents, 'daily': coalesce(d.net_cents, 0)}            AS net_cents,
            {'live': l.purchase_count, 'daily': coalesce(d.purchase_count, 0)}  AS purchase_count,
            {'live': l.paying_fans, 'daily': coalesce(d.paying_fans, 0)}        AS paying_fans,
            {'live': l.tips_cents, 'daily': coalesce(d.tips_cents, 0)}          AS tips_cents,
            {'live': l.ppv_cents, 'daily': coalesce(d.ppv_cents, 0)}            AS ppv_cents
        FROM live AS l
        LEFT JOIN daily AS d USING (creator_id, day)
    )
    ON gross_cents, net_cents, purchase_count, paying_fans, tips_cents, ppv_cents
    INTO NAME figure VALUE pair
)
SELECT
    creator_id,
    day,
    figure,
    pair.live                                                  AS live,
    pair.daily                                                 AS daily,
    figure || ' is ' || coalesce(CAST(pair.live AS VARCHAR), 'null') || ' live, '
    || pair.daily || ' in creator_revenue_daily'               AS detail
FROM compared
WHERE pair.live IS DISTINCT FROM pair.daily
