-- marts.blasts: one row per blast, `(creator_id, blast_id)`: what was sent to whom, what became of
-- the sends, and what the blast earned against a holdout, as of as_of().
--
-- Source: the blast job's ledger of confirmed blasts (ledger.blasts, recorded before anything is
-- sent) and its recipients as marts.blast_recipients reads them. Every blast of the ledger has a
-- row, one nothing was sent for yet too (its counts 0, its sums 0, its means null).
--
-- Counts of recipients: audience every row; eligible the cohorts `send` and `holdout`; excluded
-- the cohort `excluded`, and per reason; held_out the cohort `holdout`; planned_sends the cohort
-- `send`; sent, failed, scheduled, pending by outcome. unlocks: `sent` fans with an unlock in
-- their window, unlock_revenue_cents what those unlocks paid.
--
-- The uplift compares the fans sent the blast with the random holdout that was never sent it,
-- each over the fans with a window (marts.blast_recipients: window_start not null):
--   revenue_per_sent_fan_cents      mean revenue_7d_cents of outcome `sent`
--   revenue_per_held_out_fan_cents  mean revenue_7d_cents of outcome `held_out`
--   uplift_per_fan_cents            the first minus the second (null unless both exist)
--   uplift_ci_low/high_cents        a 95% interval for that difference (Welch):
--                                   diff ± 1.96 · sqrt(var_sent / n_sent + var_held / n_held), the
--                                   sample variances (n - 1); null when either group has fewer
--                                   than 2 fans with a window
--   uplift_total_cents              the difference × sent
-- Money is integer cents: each mean, difference and bound is rounded to the cent (half away from
-- zero) once, at the end, from the unrounded figures.
-- revenue_7d_sent_cents / revenue_7d_held_out_cents are the groups' sums (0 when none).
-- Until every window is complete the figures grow: windows_complete is true when no send is still
-- pending or scheduled and every `sent` and `held_out` fan's window is complete (false when the
-- blast has no such fan).
WITH blasts AS (
    SELECT creator_id, blast_id, segment, text, media_ids, price_mode, price_cents, send_at,
           planned_at
    FROM ledger.blasts
),
recipient_counts AS (
    SELECT
        creator_id,
        blast_id,
        count(*)                                                   AS audience,
        count(*) FILTER (WHERE cohort IN ('send', 'holdout'))      AS eligible,
        count(*) FILTER (WHERE cohort = 'excluded')                AS excluded,
        count(*) FILTER (WHERE cohort = 'excluded' AND reason = 'bought_media')
                                                                   AS excluded_bought_media,
        count(*) FILTER (WHERE cohort = 'excluded' AND reason = 'deprioritized')
                                                                   AS excluded_deprioritized,
        count(*) FILTER (WHERE cohort = 'excluded' AND reason = 'subscription_expired')
                                                                   AS excluded_subscription_expired,
        count(*) FILTER (WHERE cohort = 'excluded' AND reason = 'recent_mass_message')
                                                                   AS excluded_recent_mass_message,
        count(*) FILTER (WHERE cohort = 'holdout')                 AS held_out,
        count(*) FILTER (WHERE cohort = 'send')                    AS planned_sends,
        count(*) FILTER (WHERE outcome = 'sent')                   AS sent,
        count(*) FILTER (WHERE outcome = 'failed')                 AS failed,
        count(*) FILTER (WHERE outcome = 'scheduled')              AS scheduled,
        count(*) FILTER (WHERE outcome = 'pending')                AS pending,
        min(sent_at) FILTER (WHERE outcome = 'sent')               AS first_sent_at,
        max(sent_at) FILTER (WHERE outcome = 'sent')               AS last_sent_at,
        count(unlock_transaction_id)                               AS unlocks,
        CAST(coalesce(sum(unlock_cents), 0) AS BIGINT)             AS unlock_revenue_cents,
        bool_and(window_complete) FILTER (WHERE outcome IN ('sent', 'held_out'))
                                                                   AS measured_windows_complete
    FROM marts.blast_recipients
    GROUP BY creator_id, blast_id
),
measured_groups AS (
    -- Each group of the comparison: the sent fans and the held-out fans with a window.
    SELECT
        creator_id,
        blast_id,
        count(*) FILTER (WHERE outcome = 'sent')                   AS n_sent,
        CAST(coalesce(sum(revenue_7d_cents) FILTER (WHERE outcome = 'sent'), 0) AS BIGINT)
                                                                   AS revenue_7d_sent_cents,
        avg(revenue_7d_cents) FILTER (WHERE outcome = 'sent')      AS mean_sent,
        var_samp(revenue_7d_cents) FILTER (WHERE outcome = 'sent') AS var_sent,
        count(*) FILTER (WHERE outcome = 'held_out')               AS n_held_out,
        CAST(coalesce(sum(revenue_7d_cents) FILTER (WHERE outcome = 'held_out'), 0) AS BIGINT)
                                                                   AS revenue_7d_held_out_cents,
        avg(revenue_7d_cents) FILTER (WHERE outcome = 'held_out')  AS mean_held_out,
        var_samp(revenue_7d_cents) FILTER (WHERE outcome = 'held_out')
                                                                   AS var_held_out
    FROM marts.blast_recipients
    WHERE window_start IS NOT NULL
    GROUP BY creator_id, blast_id
),
uplift AS (
    SELECT
        creator_id,
        blast_id,
        revenue_7d_sent_cents,
        revenue_7d_held_out_cents,
        mean_sent,
        mean_held_out,
        mean_sent - mean_held_out                                  AS uplift_per_fan,
        CASE WHEN n_sent >= 2 AND n_held_out >= 2
            THEN sqrt(var_sent / n_sent + var_held_out / n_held_out)
        END                                                        AS uplift_standard_error
    FROM measured_groups
)
SELECT
    b.creator_id,
    b.blast_id,
    b.segment,
    b.text,
    b.media_ids,
    b.price_mode,
    b.price_cents,
    b.send_at,
    b.planned_at,
    r.first_sent_at,
    r.last_sent_at,
    coalesce(r.audience, 0)                                        AS audience,
    coalesce(r.eligible, 0)                                        AS eligible,
    coalesce(r.excluded, 0)                                        AS excluded,
    coalesce(r.excluded_bought_media, 0)                           AS excluded_bought_media,
    coalesce(r.excluded_deprioritized, 0)                          AS excluded_deprioritized,
    coalesce(r.excluded_subscription_expired, 0)                   AS excluded_subscription_expired,
    coalesce(r.excluded_recent_mass_message, 0)                    AS excluded_recent_mass_message,
    coalesce(r.held_out, 0)                                        AS held_out,
    coalesce(r.planned_sends, 0)                                   AS planned_sends,
    coalesce(r.sent, 0)                                            AS sent,
    coalesce(r.failed, 0)                                          AS failed,
    coalesce(r.scheduled, 0)                                       AS scheduled,
    coalesce(r.pending, 0)                                         AS pending,
    coalesce(r.unlocks, 0)                                         AS unlocks,
    coalesce(r.unlock_revenue_cents, 0)                            AS unlock_revenue_cents,
    coalesce(u.revenue_7d_sent_cents, 0)                           AS revenue_7d_sent_cents,
    coalesce(u.revenue_7d_held_out_cents, 0)                       AS revenue_7d_held_out_cents,
    CAST(round(u.mean_sent) AS BIGINT)                             AS revenue_per_sent_fan_cents,
    CAST(round(u.mean_held_out) AS BIGINT)                         AS revenue_per_held_out_fan_cents,
    CAST(round(u.uplift_per_fan) AS BIGINT)                        AS uplift_per_fan_cents,
    CAST(round(u.uplift_per_fan - 1.96 * u.uplift_standard_error) AS BIGINT)
                                                                   AS uplift_ci_low_cents,
    CAST(round(u.uplift_per_fan + 1.96 * u.uplift_standard_error) AS BIGINT)
                                                                   AS uplift_ci_high_cents,
    CAST(round(u.uplift_per_fan * coalesce(r.sent, 0)) AS BIGINT)  AS uplift_total_cents,
    coalesce(r.measured_windows_complete AND r.scheduled = 0 AND r.pending = 0, false)
                                                                   AS windows_complete,
    as_of()                                                        AS as_of
FROM blasts AS b
LEFT JOIN recipient_counts AS r ON r.creator_id = b.creator_id AND r.blast_id = b.blast_id
LEFT JOIN uplift AS u ON u.creator_id = b.creator_id AND u.blast_id = b.blast_id
