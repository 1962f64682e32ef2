-- Cross-field invariants of marts.fan_profile (fan-profile.md): one row per violation, naming the
-- rule, the fan and what breaks it; no row, no violation. Each row is judged as of its own `as_of`
-- column, so the same query runs in a pipeline run (one creator) and against the analysts' file
-- (every creator, e.g. `duckdb -readonly marts.duckdb < sql/checks/fan_profile_invariants.sql`).
-- 14 days is both the "still here" window and the intent freshness window of fan-profile.md.
WITH profile AS (
    SELECT
        *,
        as_of - INTERVAL 14 DAY                                           AS fortnight_before,
        -- "x.y days before as_of", for the details
        CASE WHEN last_activity_at IS NOT NULL THEN printf('%.1f days before as_of',
            (epoch_us(as_of) - epoch_us(last_activity_at)) / 86400e6) END  AS active_ago,
        CASE WHEN last_fan_message_at IS NOT NULL THEN printf('%.1f days before as_of',
            (epoch_us(as_of) - epoch_us(last_fan_message_at)) / 86400e6) END AS wrote_ago
    FROM marts.fan_profile
),
times AS (
    -- The columns that record something that happened, for the fans with one after as_of.
    -- subscription_expires_at, deprioritized_until and follow_up_due_at look ahead by design.
    UNPIVOT (
        SELECT creator_id, fan_id, as_of, first_purchase_at, last_purchase_at, subscribed_at,
               last_message_at, last_fan_message_at, last_activity_at, stage_updated_at,
               classified_at
        FROM marts.fan_profile
        WHERE greatest(first_purchase_at, last_purchase_at, subscribed_at, last_message_at,
                       last_fan_message_at, last_activity_at, stage_updated_at,
                       classified_at) > as_of
    )
    ON first_purchase_at, last_purchase_at, subscribed_at, last_message_at, last_fan_message_at,
       last_activity_at, stage_updated_at, classified_at
    INTO NAME time_column VALUE instant
)
-- Still here: a fan who bought or wrote within 14 days is never churned.
SELECT 'churned_yet_recently_active' AS rule, creator_id, fan_id,
       'stage churned, yet last active ' || active_ago || ' (<= 14)' AS detail
FROM profile
WHERE stage = 'churned' AND last_activity_at >= fortnight_before

UNION ALL
-- An intent fires an action only while fresh: the fan wrote within 14 days. offer_discount also
-- fires on discount_sensitivity `always`, which needs no fresh intent.
SELECT 'intent_action_on_quiet_chat', creator_id, fan_id,
       next_best_action || ' fired by intent, yet the fan '
       || coalesce('last wrote ' || wrote_ago || ' (> 14)', 'never wrote')
FROM profile
WHERE (next_best_action IN ('upsell_custom', 'send_ppv')
       OR (next_best_action = 'offer_discount'
           AND discount_sensitivity IS DISTINCT FROM 'always'))
  AND (last_fan_message_at IS NULL OR last_fan_message_at < fortnight_before)

UNION ALL
-- A follow-up is due some days after the chat's latest message, never before it.
SELECT 'follow_up_before_last_message', creator_id, fan_id,
       'follow_up_due_at ' || follow_up_due_at || ' is before last_message_at ' || last_message_at
FROM profile
WHERE follow_up_due_at < last_message_at

UNION ALL
-- A PPV unlock is a purchase of a priced message sent into his chat.
SELECT 'ppv_bought_none_sent', creator_id, fan_id,
       ppv_bought_count || ' PPV bought, none sent'
FROM profile
WHERE ppv_bought_count > 0 AND ppv_sent_count = 0

UNION ALL
SELECT 'conversion_out_of_range', creator_id, fan_id,
       'conversion_rate ' || conversion_rate || ' outside [0, 1] (' || ppv_bought_count
       || ' bought / ' || ppv_sent_count || ' sent)'
FROM profile
WHERE conversion_rate < 0 OR conversion_rate > 1

UNION ALL
-- The agency-wide person carries a username whenever one of his profiles does.
SELECT 'person_without_username', p.creator_id, p.fan_id,
       'fan_agency has no username; this profile has ' || p.username
FROM profile AS p
JOIN marts.fan_agency AS a USING (fan_id)
WHERE p.username IS NOT NULL AND a.username IS NULL

UNION ALL
SELECT 'time_after_as_of', creator_id, fan_id,
       string_agg(time_column || ' ' || instant, ', ' ORDER BY time_column)
       || ' after as_of ' || any_value(as_of)
FROM times
WHERE instant > as_of
GROUP BY creator_id, fan_id
