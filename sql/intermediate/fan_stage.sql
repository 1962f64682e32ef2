-- intermediate.fan_stage: each fan's relationship stage as a pure function of his history up to
-- as_of() (fan-profile.md, Relationship stage), the reason it applies, and when to follow up.
-- Recomputing it for any as_of() gives what an evaluation at that instant recorded.
-- Thresholds: sql/lifecycle/macros.sql (within_days: at most N days before as_of()).
WITH purchases AS (
    -- The purchase before the last one (two at the same instant are a gap of zero).
    SELECT
        creator_id,
        fan_id,
        max(created_at, 2)[2] AS previous_purchase_at
    FROM marts.transactions
    WHERE is_purchase
    GROUP BY ALL
),
history AS (
    SELECT
        e.creator_id,
        e.fan_id,
        money.last_purchase_at,
        p.previous_purchase_at,
        e.last_fan_message_at,
        e.last_activity_at,
        -- A subscription date after as_of() is not history yet.
        CASE WHEN f.subscribed_at <= as_of() THEN f.subscribed_at END      AS subscribed_at,
        f.subscription_status,
        f.subscription_expires_at
    FROM intermediate.fan_engagement AS e
    LEFT JOIN intermediate.fan_money AS money USING (creator_id, fan_id)
    LEFT JOIN purchases AS p USING (creator_id, fan_id)
    LEFT JOIN staging.fans AS f USING (creator_id, fan_id)
),
by_history AS (
    SELECT
        *,
        -- Without purchases, decay runs from the last activity (or the subscription if never active).
        coalesce(last_activity_at, subscribed_at) AS decay_from,
        CASE
            WHEN last_purchase_at IS NOT NULL THEN
                CASE
                    WHEN within_days(last_purchase_at, 7)
                         AND seconds_between(previous_purchase_at, last_purchase_at) > 30 * 86400
                        THEN 'reactivated'
                    WHEN within_days(last_purchase_at, 14) THEN 'active_buyer'
                    WHEN within_days(last_purchase_at, 30) THEN 'cooling_off'
                    WHEN within_days(last_purchase_at, 60) THEN 'at_risk'
                    ELSE 'churned'
                END
            WHEN within_days(subscribed_at, 7) THEN 'new'
            WHEN within_days(last_fan_message_at, 14) THEN 'warming'
            WHEN within_days(coalesce(last_activity_at, subscribed_at), 30) THEN 'cooling_off'
            WHEN within_days(coalesce(last_activity_at, subscribed_at), 60) THEN 'at_risk'
            ELSE 'churned'
        END AS history_stage,
        -- A subscription that ended more than 30 days ago and was not renewed ends the relationship.
        coalesce(subscription_status = 'expired' AND NOT within_days(subscription_expires_at, 30),
                 false) AS expired_override
    FROM history
),
staged AS (
    SELECT *, CASE WHEN expired_override THEN 'churned' ELSE history_stage END AS stage
    FROM by_history
)
SELECT
    creator_id,
    fan_id,
    stage,
    CASE
        WHEN expired_override THEN
            'subscription expired ' || days_ago(subscription_expires_at) || ' days ago (> 30), not renewed'
        WHEN stage = 'reactivated' THEN
            'purchase ' || days_ago(last_purchase_at) || ' days ago (<= 7) after a gap of '
            || printf('%.1f', seconds_between(previous_purchase_at, last_purchase_at) / 86400)
            || ' days (> 30)'
        WHEN last_purchase_at IS NOT NULL THEN
            'last purchase ' || days_ago(last_purchase_at) || ' days ago ('
            || CASE stage WHEN 'active_buyer' THEN '<= 14' WHEN 'cooling_off' THEN '<= 30'
                          WHEN 'at_risk' THEN '<= 60' ELSE '> 60' END || ')'
        WHEN stage = 'new' THEN
            'no purchase; subscribed ' || days_ago(subscribed_at) || ' days ago (<= 7)'
        WHEN stage = 'warming' THEN
            'no purchase; fan message ' || days_ago(last_fan_message_at) || ' days ago (<= 14)'
        WHEN decay_from IS NULL THEN 'no purchase, no fan message, no subscription date'
        ELSE
            'no purchase; ' || CASE WHEN last_activity_at IS NULL THEN 'subscribed ' ELSE 'last active ' END
            || days_ago(decay_from) || ' days ago ('
            || CASE stage WHEN 'cooling_off' THEN '<= 30' WHEN 'at_risk' THEN '<= 60' ELSE '> 60' END
            || ')'
    END AS stage_reason,
    CASE
        WHEN stage IN ('cooling_off', 'at_risk') THEN last_purchase_at + INTERVAL 14 DAY
        WHEN stage = 'warming' THEN last_fan_message_at + INTERVAL 2 DAY
    END AS follow_up_due_at
FROM staged
