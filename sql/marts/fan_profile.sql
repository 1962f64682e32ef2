-- marts.fan_profile: one row per fan (creator_id, fan_id), every field of fan-profile.md computed
-- as of as_of(). Money is integer cents, gross unless named net. Each field is computed once:
-- money in intermediate.fan_money, engagement signals in intermediate.fan_engagement
-- (which also decides who the creator's fans are), the stage in intermediate.fan_stage, and the
-- classifier's view in intermediate.fan_personality; the column descriptions are in
-- ofhq_pipeline/lifecycle/dictionary.py (docs/data-dictionary.md).
WITH stage_history AS (
    -- The fan's recorded stage changes up to as_of(), in the order they were recorded (an
    -- instant evaluated twice may hold two: event_seq orders them), beside his stage.
    SELECT ev.fan_id, ev.to_stage, ev.occurred_at, ev.event_seq, st.stage
    FROM marts.fan_lifecycle_events AS ev
    JOIN intermediate.fan_stage AS st USING (fan_id)
    WHERE ev.event_type = 'stage_change' AND ev.occurred_at <= as_of()
),
left_other_stage AS (
    -- The last of them into another stage than his own.
    SELECT fan_id, max((occurred_at, event_seq)) AS left_at
    FROM stage_history
    WHERE to_stage <> stage
    GROUP BY fan_id
),
stage_since AS (
    -- When he entered his current stage: the start of its latest unbroken run in the log (his
    -- first recorded stage is dated when he entered it in his history, a later change by the
    -- evaluation that saw it).
    SELECT fan_id, min(occurred_at) AS stage_updated_at
    FROM stage_history
    LEFT JOIN left_other_stage USING (fan_id)
    WHERE to_stage = stage
      AND (left_at IS NULL OR (occurred_at, event_seq) > left_at)
    GROUP BY fan_id
),
freshness AS (
    -- An intent score is a signal only while it is fresh: the fan wrote within the 14 days
    -- before as_of(). An intent read in a chat gone quiet is history; the reason says how fresh.
    SELECT
        fan_id,
        coalesce(within_days(last_fan_message_at, 14), false)                    AS fresh,
        ' (fan wrote ' || days_ago(last_fan_message_at) || ' days ago, <= 14)'   AS wrote
    FROM intermediate.fan_engagement
),
next_action AS (
    -- The first rule that applies, in this order, with the values that fired it. An intent fires
    -- at a score of 60 or more while it is fresh; a fan not classified yet fires none.
    SELECT
        e.fan_id,
        CASE
            WHEN e.deprioritized_until IS NOT NULL THEN {
                'action': 'deprioritize',
                'reason': 'deprioritize: time_waster_score ' || e.time_waster_score
                          || ' and no spend, until ' || strftime(e.deprioritized_until, '%Y-%m-%d %H:%M')}
            WHEN fr.fresh AND i.intent_wants_custom >= 60 THEN {
                'action': 'upsell_custom',
                'reason': 'upsell_custom: intent_wants_custom ' || i.intent_wants_custom || ' >= 60'
                          || fr.wrote}
            WHEN fr.fresh AND (i.intent_ready_to_buy >= 60 OR i.intent_high_intent >= 60) THEN {
                'action': 'send_ppv',
                'reason': 'send_ppv: ' || CASE WHEN i.intent_ready_to_buy >= 60
                    THEN 'intent_ready_to_buy ' || i.intent_ready_to_buy
                    ELSE 'intent_high_intent ' || i.intent_high_intent END || ' >= 60' || fr.wrote}
            WHEN st.stage IN ('cooling_off', 'at_risk')
                 AND ((fr.fresh AND i.intent_discount_request >= 60)
                      OR m.discount_sensitivity = 'always') THEN {
                'action': 'offer_discount',
                'reason': 'offer_discount: '
                    || CASE WHEN fr.fresh AND i.intent_discount_request >= 60
                        THEN 'intent_discount_request ' || i.intent_discount_request || ' >= 60'
                             || fr.wrote
                        ELSE 'discount_sensitivity always' END
                    || ' in stage ' || st.stage}
            WHEN st.stage IN ('at_risk', 'churned') AND m.lifetime_spend_cents > 0 THEN {
                'action': 'win_back',
                'reason': 'win_back: stage ' || st.stage || ' with lifetime spend $'
                          || printf('%.2f', m.lifetime_spend_cents / 100)}
            WHEN st.stage = 'new' THEN {
                'action': 'welcome', 'reason': 'welcome: stage new'}
            ELSE {
                'action': 'nurture', 'reason': 'nurture: no other rule applies (stage ' || st.stage || ')'}
        END AS nba
    FROM intermediate.fan_engagement AS e
    JOIN freshness AS fr USING (fan_id)
    JOIN intermediate.fan_stage AS st USING (fan_id)
    LEFT JOIN intermediate.fan_money AS m USING (fan_id)
    LEFT JOIN intermediate.fan_personality AS i USING (fan_id)
)
SELECT
    e.creator_id,
    e.fan_id,
    f.username,
    f.name,
    -- Money & purchases (intermediate.fan_money; a fan missing there has no money at all)
    coalesce(m.lifetime_spend_cents, 0)                         AS lifetime_spend_cents,
    coalesce(m.lifetime_net_cents, 0)                           AS lifetime_net_cents,
    coalesce(m.purchase_count, 0)                               AS purchase_count,
    m.avg_order_value_cents,
    m.biggest_purchase_cents,
    m.first_purchase_at,
    m.last_purchase_at,
    m.last_purchase_type,
    m.last_purchase_cents,
    coalesce(m.tips_cents, 0)                                   AS tips_cents,
    coalesce(m.ppv_cents, 0)                                    AS ppv_cents,
    coalesce(m.subscription_cents, 0)                           AS subscription_cents,
    coalesce(m.post_cents, 0)                                   AS post_cents,
    coalesce(m.stream_cents, 0)                                 AS stream_cents,
    m.price_range,
    coalesce(m.buyer_type, 'non_spender')                       AS buyer_type,
    coalesce(m.ppv_sent_count, 0)                               AS ppv_sent_count,
    coalesce(m.ppv_bought_count, 0)                             AS ppv_bought_count,
    m.conversion_rate,
    m.discount_sensitivity,
    coalesce(m.chargeback_count, 0)                             AS chargeback_count,
    coalesce(m.refund_count, 0)                                 AS refund_count,
    coalesce(m.chargeback_risk, false)                          AS chargeback_risk,
    -- Subscription
    f.subscribed_at,
    f.subscription_status,
    f.subscription_expires_at,
    -- Engagement signals
    e.last_message_at,
    e.last_fan_message_at,
    e.fan_message_count,
    e.active_hours,
    e.avg_reply_time_s,
    e.last_activity_at,
    e.temperature,
    e.spend_tier,
    e.time_waster_score,
    e.deprioritized_until,
    st.follow_up_due_at,
    a.nba.action                                                AS next_best_action,
    a.nba.reason                                                AS next_best_action_reason,
    -- Relationship stage
    st.stage,
    -- A log without his stage (not evaluated with the lifecycle models): as history tells it.
    coalesce(ss.stage_updated_at, st.stage_since)              AS stage_updated_at,
    i.last_objection,
    i.top_objection,
    -- Personality, intent (0-100) and the classification they come from
    i.fan_type,
    i.tone_preference,
    i.emotional_drivers,
    i.emotional_needs,
    i.content_format_preference,
    i.length_preference,
    i.narrative_summary,
    i.frequency_preference,
    i.best_opener_type,
    i.best_offer_type,
    i.custom_interest_level,
    i.toxicity_flag,
    i.toxicity_reason,
    i.intent_ready_to_buy,
    i.intent_wants_custom,
    i.intent_price_question,
    i.intent_discount_request,
    i.intent_wants_more,
    i.intent_high_intent,
    i.intent_churn_risk,
    i.intent_escalation_intent,
    i.intent_trust_intent,
    i.intent_attention_intent,
    i.intent_status_intent,
    i.intent_emotional_support,
    i.intent_entertainment,
    i.intent_boundary_testing,
    i.classified_at,
    i.classifier_model,
    as_of()                                                     AS as_of
FROM intermediate.fan_engagement AS e
LEFT JOIN staging.fans AS f USING (creator_id, fan_id)
LEFT JOIN intermediate.fan_money AS m USING (creator_id, fan_id)
LEFT JOIN intermediate.fan_stage AS st USING (creator_id, fan_id)
LEFT JOIN stage_since AS ss USING (fan_id)
LEFT JOIN next_action AS a USING (fan_id)
LEFT JOIN intermediate.fan_personality AS i USING (creator_id, fan_id)
