-- intermediate.fan_personality: what the classifier says about each fan of the creator (his
-- latest classification, classifier.md), with the exact columns and types fan_profile reads.
-- marts.fan_personality is the classifier's table, or an empty table of its shape before the
-- classifier ran (the session types every table it reads from the registry).
SELECT
    creator_id,
    CAST(fan_id AS BIGINT)                        AS fan_id,
    CAST(fan_type AS VARCHAR)                     AS fan_type,
    CAST(tone_preference AS VARCHAR)              AS tone_preference,
    CAST(emotional_drivers AS VARCHAR[])          AS emotional_drivers,
    CAST(emotional_needs AS VARCHAR[])            AS emotional_needs,
    CAST(content_format_preference AS VARCHAR)    AS content_format_preference,
    CAST(length_preference AS VARCHAR)            AS length_preference,
    CAST(narrative_summary AS VARCHAR)            AS narrative_summary,
    CAST(frequency_preference AS VARCHAR)         AS frequency_preference,
    CAST(best_opener_type AS VARCHAR)             AS best_opener_type,
    CAST(best_offer_type AS VARCHAR)              AS best_offer_type,
    CAST(custom_interest_level AS INTEGER)        AS custom_interest_level,
    CAST(toxicity_flag AS BOOLEAN)                AS toxicity_flag,
    CAST(toxicity_reason AS VARCHAR)              AS toxicity_reason,
    CAST(intent_ready_to_buy AS INTEGER)          AS intent_ready_to_buy,
    CAST(intent_wants_custom AS INTEGER)          AS intent_wants_custom,
    CAST(intent_price_question AS INTEGER)        AS intent_price_question,
    CAST(intent_discount_request AS INTEGER)      AS intent_discount_request,
    CAST(intent_wants_more AS INTEGER)            AS intent_wants_more,
    CAST(intent_high_intent AS INTEGER)           AS intent_high_intent,
    CAST(intent_churn_risk AS INTEGER)            AS intent_churn_risk,
    CAST(intent_escalation_intent AS INTEGER)     AS intent_escalation_intent,
    CAST(intent_trust_intent AS INTEGER)          AS intent_trust_intent,
    CAST(intent_attention_intent AS INTEGER)      AS intent_attention_intent,
    CAST(intent_status_intent AS INTEGER)         AS intent_status_intent,
    CAST(intent_emotional_support AS INTEGER)     AS intent_emotional_support,
    CAST(intent_entertainment AS INTEGER)         AS intent_entertainment,
    CAST(intent_boundary_testing AS INTEGER)      AS intent_boundary_testing,
    CAST(last_objection AS VARCHAR)               AS last_objection,
    CAST(top_objection AS VARCHAR)                AS top_objection,
    CAST(classified_at AS TIMESTAMPTZ)            AS classified_at,
    CAST(classifier_model AS VARCHAR)             AS classifier_model
FROM marts.fan_personality
WHERE creator_id = getvariable('creator_id')
QUALIFY row_number() OVER (PARTITION BY fan_id ORDER BY classified_at DESC NULLS LAST) = 1
