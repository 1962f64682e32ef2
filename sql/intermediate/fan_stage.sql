-- intermediate.fan_stage: each fan's relationship stage as a pure function of his history up to
-- as_of() (fan-profile.md, Relationship stage), the reason it applies, since when it applies, and
-- when to follow up. Recomputing it for any as_of() gives what an evaluation at that instant
-- recorded. The windows are the macros of sql/macros/lifecycle.sql ("within N days": at most
-- N days before as_of(), bounds included, as within_days).
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
        e.last_message_at,
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
facts AS (
    -- The tests the rules are made of, each written once.
    SELECT
        *,
        -- Without purchases, decay runs from the last activity (the subscription if never active).
        coalesce(last_activity_at, subscribed_at)                             AS decay_from,
        -- The last purchase came back after a long gap: reactivated while it is recent.
        coalesce(seconds_between(previous_purchase_at, last_purchase_at)
                 > reactivation_gap_days() * 86400, false)                    AS after_a_gap,
        -- A subscription that ended long ago and was not renewed ends the relationship...
        coalesce(subscription_status = 'expired'
                 AND NOT within_days(subscription_expires_at, expired_churn_days()), false)
                                                                              AS expired_long_ago,
        -- ...unless he bought or wrote lately: then he is still here, and can be won back.
        coalesce(within_days(last_activity_at, still_here_days()), false)    AS still_here
    FROM history
),
by_windows AS (
    -- The stage the purchase and activity windows give.
    SELECT
        *,
        CASE
            WHEN last_purchase_at IS NOT NULL THEN
                CASE
                    WHEN within_days(last_purchase_at, reactivated_days()) AND after_a_gap
                        THEN 'reactivated'
                    WHEN within_days(last_purchase_at, active_buyer_days()) THEN 'active_buyer'
                    WHEN within_days(last_purchase_at, cooling_off_days()) THEN 'cooling_off'
                    WHEN within_days(last_purchase_at, at_risk_days()) THEN 'at_risk'
                    ELSE 'churned'
                END
            WHEN within_days(subscribed_at, new_days()) THEN 'new'
            WHEN within_days(last_fan_message_at, warming_days()) THEN 'warming'
            WHEN within_days(decay_from, cooling_off_days()) THEN 'cooling_off'
            WHEN within_days(decay_from, at_risk_days()) THEN 'at_risk'
            ELSE 'churned'
        END AS window_stage
    FROM facts
),
window_dated AS (
    -- When the windows' stage began: a purchase stage at that purchase (for an active_buyer who
    -- came back after a gap, when his reactivated days ended), new at the subscription, warming
    -- at the fan's message, a decay stage at the boundary crossed. Without purchases a stage
    -- cannot begin before new ended (nor a decay stage before warming ended). greatest() skips
    -- nulls; a fan with no purchase, no fan message and no subscription date gets none.
    SELECT
        *,
        CASE
            WHEN window_stage = 'reactivated' THEN last_purchase_at
            WHEN window_stage = 'active_buyer' AND after_a_gap
                THEN last_purchase_at + to_days(reactivated_days())
            WHEN window_stage = 'active_buyer' THEN last_purchase_at
            WHEN last_purchase_at IS NOT NULL THEN last_purchase_at + to_days(
                CASE window_stage WHEN 'cooling_off' THEN active_buyer_days()
                                  WHEN 'at_risk' THEN cooling_off_days() ELSE at_risk_days() END)
            WHEN window_stage = 'new' THEN subscribed_at
            WHEN window_stage = 'warming'
                THEN greatest(last_fan_message_at, subscribed_at + to_days(new_days()))
            WHEN window_stage = 'cooling_off'
                THEN greatest(last_fan_message_at + to_days(warming_days()),
                              subscribed_at + to_days(new_days()))
            ELSE greatest(decay_from + to_days(CASE window_stage
                                                    WHEN 'at_risk' THEN cooling_off_days()
                                                    ELSE at_risk_days() END),
                          subscribed_at + to_days(new_days()))
        END                                                                   AS window_since,
        -- When the windows make (or made) him at_risk: where still here continues from.
        CASE WHEN last_purchase_at IS NOT NULL
            THEN last_purchase_at + to_days(cooling_off_days())
            ELSE greatest(decay_from + to_days(cooling_off_days()),
                          subscribed_at + to_days(new_days()))
        END                                                                   AS at_risk_from
    FROM by_windows
),
ruled AS (
    -- The expired subscription overrides the windows: churned from expiry plus
    -- expired_churn_days(), or from when the windows churned him, whichever came first (least()
    -- skips nulls).
    SELECT
        *,
        CASE WHEN expired_long_ago THEN 'churned' ELSE window_stage END      AS rule_stage,
        CASE
            WHEN expired_long_ago AND window_stage = 'churned'
                THEN least(window_since, subscription_expires_at + to_days(expired_churn_days()))
            WHEN expired_long_ago THEN subscription_expires_at + to_days(expired_churn_days())
            ELSE window_since
        END                                                                   AS rule_since
    FROM window_dated
),
staged AS (
    -- Still here: where the rules say churned, a fan active lately is at_risk. He is so since his
    -- last activity when it came after the rules churned him (he came back); otherwise since the
    -- rules churned him, or, when the windows had him at_risk until then, since that at_risk
    -- began (his stage never changed). Every one of these instants is at or before as_of().
    SELECT
        *,
        rule_stage = 'churned' AND still_here                                AS kept_by_still_here,
        CASE WHEN rule_stage = 'churned' AND still_here THEN 'at_risk' ELSE rule_stage END
                                                                              AS stage,
        CASE
            WHEN NOT (rule_stage = 'churned' AND still_here) THEN rule_since
            WHEN last_activity_at > rule_since THEN last_activity_at
            WHEN at_risk_from < rule_since THEN at_risk_from
            ELSE rule_since
        END                                                                   AS since
    FROM ruled
),
explained AS (
    SELECT
        *,
        CASE
            WHEN expired_long_ago THEN
                'subscription expired ' || days_ago(subscription_expires_at) || ' days ago (> '
                || expired_churn_days() || '), not renewed'
            WHEN window_stage = 'reactivated' THEN
                'purchase ' || days_ago(last_purchase_at) || ' days ago (<= ' || reactivated_days()
                || ') after a gap of '
                || printf('%.1f', seconds_between(previous_purchase_at, last_purchase_at) / 86400)
                || ' days (> ' || reactivation_gap_days() || ')'
            WHEN last_purchase_at IS NOT NULL THEN
                'last purchase ' || days_ago(last_purchase_at) || ' days ago ('
                || CASE window_stage WHEN 'active_buyer' THEN '<= ' || active_buyer_days()
                                     WHEN 'cooling_off' THEN '<= ' || cooling_off_days()
                                     WHEN 'at_risk' THEN '<= ' || at_risk_days()
                                     ELSE '> ' || at_risk_days() END || ')'
            WHEN window_stage = 'new' THEN
                'no purchase; subscribed ' || days_ago(subscribed_at) || ' days ago (<= '
                || new_days() || ')'
            WHEN window_stage = 'warming' THEN
                'no purchase; fan message ' || days_ago(last_fan_message_at) || ' days ago (<= '
                || warming_days() || ')'
            WHEN decay_from IS NULL THEN 'no purchase, no fan message, no subscription date'
            ELSE
                'no purchase; '
                || CASE WHEN last_activity_at IS NULL THEN 'subscribed ' ELSE 'last active ' END
                || days_ago(decay_from) || ' days ago ('
                || CASE window_stage WHEN 'cooling_off' THEN '<= ' || cooling_off_days()
                                     WHEN 'at_risk' THEN '<= ' || at_risk_days()
                                     ELSE '> ' || at_risk_days() END || ')'
        END AS rule_reason
    FROM staged
)
SELECT
    creator_id,
    fan_id,
    stage,
    CASE WHEN kept_by_still_here THEN
        'still here: last active ' || days_ago(last_activity_at) || ' days ago (<= '
        || still_here_days() || '), not churned: ' || rule_reason
    ELSE rule_reason END                                                      AS stage_reason,
    -- When he entered this stage as his history tells it: what his first recorded stage change
    -- is dated (stage_updated_at). With no instant in his history, the evaluation itself.
    coalesce(since, CAST(as_of() AS TIMESTAMPTZ))                            AS stage_since,
    -- Pick the chat up again some days after its latest message (either side; the last purchase
    -- when nobody ever wrote); may lie before as_of(): the follow-up is then overdue.
    CASE
        WHEN stage IN ('cooling_off', 'at_risk')
            THEN coalesce(last_message_at, last_purchase_at) + to_days(follow_up_days())
        WHEN stage = 'warming' THEN last_message_at + to_days(warming_follow_up_days())
    END                                                                       AS follow_up_due_at
FROM explained
