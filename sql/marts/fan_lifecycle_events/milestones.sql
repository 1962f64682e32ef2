-- The milestones fans reached by as_of() that the log does not hold yet, each dated when it
-- happened: `first_purchase`, `spend_tier:<tier>` (the purchase that took lifetime spend to the
-- tier's threshold) and `sub_anniversary:<years>` (while still subscribed). A milestone is
-- recorded once per fan, whatever later refunds or chargebacks do to the figures.
WITH recorded AS (
    SELECT fan_id, milestone FROM lifecycle.recorded_events WHERE event_type = 'milestone'
),
money_thresholds AS (
    SELECT 'first_purchase' AS milestone, 1 AS threshold_cents
    UNION ALL
    SELECT 'spend_tier:' || tier, threshold_cents FROM spend_tier_thresholds()
),
pending AS (
    -- What each fan's spend has reached and the log does not hold: only these fans' purchases
    -- are replayed below, so an evaluation with nothing new costs next to nothing.
    SELECT m.fan_id, t.milestone
    FROM intermediate.fan_money AS m
    JOIN money_thresholds AS t ON m.lifetime_spend_cents >= t.threshold_cents
    ANTI JOIN recorded USING (fan_id, milestone)
    WHERE m.purchase_count > 0
),
purchases AS (
    -- The pending fans' purchases in order, with lifetime spend after each.
    SELECT
        creator_id,
        fan_id,
        transaction_id,
        created_at,
        type,
        amount_cents,
        sum(amount_cents) OVER (
            PARTITION BY fan_id ORDER BY created_at, transaction_id ROWS UNBOUNDED PRECEDING
        )                                                                   AS running_cents
    FROM marts.transactions
    WHERE is_purchase AND fan_id IN (SELECT fan_id FROM pending)
),
tier_changes AS MATERIALIZED (
    -- Only a purchase that changes the fan's spend tier can cross a threshold: a cheap test
    -- that leaves the range join below a few rows per fan rather than all his purchases.
    SELECT * FROM purchases
    WHERE spend_tier(running_cents) <> spend_tier(running_cents - amount_cents)
),
crossings AS (
    -- The purchase that took lifetime spend from below each threshold to it.
    SELECT p.*, t.milestone, t.threshold_cents
    FROM tier_changes AS p
    JOIN money_thresholds AS t
        ON p.running_cents - p.amount_cents < t.threshold_cents
       AND p.running_cents >= t.threshold_cents
),
money_milestones AS (
    SELECT
        c.creator_id,
        c.fan_id,
        c.milestone,
        c.created_at                                                        AS occurred_at,
        CASE WHEN c.milestone = 'first_purchase'
            THEN 'first purchase: ' || dollars(c.amount_cents) || ' ' || c.type
                 || ' (' || c.transaction_id || ')'
            ELSE 'lifetime spend reached ' || dollars(c.running_cents) || ' (>= '
                 || dollars(c.threshold_cents) || ') with ' || c.transaction_id
        END                                                                 AS reason
    FROM crossings AS c
    SEMI JOIN pending USING (fan_id, milestone)
),
anniversaries AS MATERIALIZED (
    -- Each fan's anniversaries that may have come by as_of() and the log does not hold: a year
    -- is at least 365 days, so one whose 365 days a year lie after as_of() has not. The calendar
    -- arithmetic below costs microseconds a row, so it waits for this cheap cut.
    SELECT *
    FROM (
        SELECT
            f.creator_id,
            f.fan_id,
            'sub_anniversary:' || r.years                                   AS milestone,
            r.years,
            f.subscribed_at,
            f.subscription_status,
            f.subscription_expires_at
        FROM staging.fans AS f,
             range(1, year(as_of()) - year(f.subscribed_at) + 1) AS r(years)
        WHERE f.subscribed_at <= as_of()
          AND epoch_us(f.subscribed_at) + r.years * 365 * 86400000000 <= epoch_us(as_of())
    )
    ANTI JOIN recorded USING (fan_id, milestone)
),
anniversary_milestones AS (
    -- An anniversary counts when it has come and the subscription still ran on that day.
    SELECT
        creator_id,
        fan_id,
        milestone,
        occurred_at,
        years || (CASE WHEN years = 1 THEN ' year' ELSE ' years' END) || ' since subscribing on '
            || strftime(subscribed_at, '%Y-%m-%d')                          AS reason
    FROM (SELECT *, subscribed_at + to_years(years) AS occurred_at FROM anniversaries)
    WHERE occurred_at <= as_of()
      AND (subscription_status = 'active' OR subscription_expires_at >= occurred_at)
),
new_milestones AS (
    SELECT * FROM money_milestones
    UNION ALL
    SELECT * FROM anniversary_milestones
)
SELECT
    creator_id,
    fan_id,
    'milestone'                 AS event_type,
    CAST(NULL AS VARCHAR)       AS from_stage,
    CAST(NULL AS VARCHAR)       AS to_stage,
    milestone,
    occurred_at,
    reason
FROM new_milestones
