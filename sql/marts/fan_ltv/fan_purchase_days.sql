-- The MBG/NBD + Gamma-Gamma inputs per fan, from his discretionary purchases up to as_of(): every
-- purchase that is not a subscription payment (tips, PPV unlocks, posts, streams, other), summed
-- per UTC day (one "transaction" of the model per day, as is usual with daily data).
--   frequency     repeat purchase days (purchase days - 1)
--   recency_days  days from his first purchase day to his last
--   tenure_days   days from his first purchase day to the day of as_of() (T)
--   monetary_cents his mean spend per repeat purchase day (the first day left out); null if none
-- Subscription payments renew on a schedule (a contract, not a choice made each time) and are
-- left out of the model. Reads `ltv.transactions` (this creator's marts.transactions, or the
-- agency's pool when the creator has too few buyers to fit alone).
WITH days AS (
    SELECT
        creator_id,
        fan_id,
        date_trunc('day', created_at) AS day,
        min(created_at)               AS first_at,
        sum(amount_cents)             AS cents
    FROM ltv.transactions
    WHERE is_purchase AND type <> 'subscription' AND fan_id IS NOT NULL AND created_at <= as_of()
    GROUP BY ALL
)
SELECT
    creator_id,
    fan_id,
    min(first_at)                                                    AS first_purchase_at,
    CAST(count(*) - 1 AS BIGINT)                                     AS frequency,
    date_diff('day', min(day), max(day))                             AS recency_days,
    date_diff('day', min(day), date_trunc('day', as_of()))           AS tenure_days,
    CAST(sum(cents) AS BIGINT)                                       AS spend_cents,
    CASE WHEN count(*) > 1
        THEN (sum(cents) - arg_min(cents, day)) / (count(*) - 1) END AS monetary_cents
FROM days
GROUP BY creator_id, fan_id
