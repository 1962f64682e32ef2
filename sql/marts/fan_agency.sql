-- marts.fan_agency: one row per person (fan_id) across all the agency's creators, rolled up from
-- every creator's published marts.fan_profile. Stages rank by stage_rank() (sql/macros/lifecycle.sql).
SELECT
    fan_id,
    -- His username from his most recently active profile that has one, ties to the smaller
    -- creator id. A profile he was never active in ranks last rather than dropping out (a null
    -- key would be skipped), so every person with a username on some profile gets one.
    arg_min(username, (last_activity_at IS NULL, -epoch_us(last_activity_at), creator_id))
        FILTER (WHERE username IS NOT NULL)                                    AS username,
    count(*)                                                                   AS creators_followed,
    count(*) FILTER (WHERE subscription_status = 'active')                     AS active_subscriptions,
    list(creator_id ORDER BY creator_id)                                       AS creator_ids,
    CAST(sum(lifetime_spend_cents) AS BIGINT)                                  AS lifetime_spend_cents,
    CAST(sum(lifetime_net_cents) AS BIGINT)                                    AS lifetime_net_cents,
    CAST(sum(purchase_count) AS BIGINT)                                        AS purchase_count,
    spend_tier(sum(lifetime_spend_cents))                                      AS spend_tier,
    CASE WHEN sum(lifetime_spend_cents) > 0
        THEN arg_min(creator_id, (-lifetime_spend_cents, creator_id)) END     AS top_creator_id,
    arg_min(stage, (stage_rank(stage), -lifetime_spend_cents, creator_id))     AS best_stage,
    arg_min(creator_id, (stage_rank(stage), -lifetime_spend_cents, creator_id)) AS best_stage_creator_id,
    min(first_purchase_at)                                                     AS first_purchase_at,
    max(last_purchase_at)                                                      AS last_purchase_at,
    max(last_activity_at)                                                      AS last_activity_at,
    min(as_of)                                                                 AS as_of
FROM marts.fan_profile
GROUP BY fan_id
