-- chatters.qa_sample: the conversations to review. A conversation is one chatter's personal
-- messages with one fan on one UTC day (both sides, as attributed), with at least one of his.
-- Per chatter and day up to `qa_sample_size` of them, days from `qa_first_day` to `qa_last_day`,
-- favouring, in this order:
--   'purchase': the fan bought (PPV or tip credited to the chatter) that day, biggest first;
--   'at_risk':  the fan's last purchase before that day is more than `qa_at_risk_days` (30) old;
--   'random':   the rest, in a fixed pseudo-random order (md5 of chatter, fan and day), so the
--               same day samples the same conversations in every run.
WITH conversations AS (
    SELECT
        chatter,
        fan_id,
        day,
        count(*) FILTER (WHERE NOT is_from_fan)                             AS creator_messages,
        count(*) FILTER (WHERE is_from_fan)                                 AS fan_messages
    FROM chatters.message_attribution
    WHERE chatter IS NOT NULL
      AND NOT is_mass_message
      AND day BETWEEN CAST(getvariable('qa_first_day') AS DATE)
                  AND CAST(getvariable('qa_last_day') AS DATE)
    GROUP BY chatter, fan_id, day
    HAVING count(*) FILTER (WHERE NOT is_from_fan) > 0
),
bought AS (
    SELECT chatter, fan_id, day, count(*) AS purchases, sum(amount_cents) AS purchase_cents
    FROM chatters.purchase_attribution
    WHERE chatter IS NOT NULL AND is_chatter_revenue
    GROUP BY chatter, fan_id, day
),
with_last AS (
    SELECT c.*, p.created_at AS last_purchase_before
    FROM conversations c
    ASOF LEFT JOIN (SELECT fan_id, created_at FROM chatters.purchases) p
      ON c.fan_id = p.fan_id AND CAST(c.day AS TIMESTAMPTZ) > p.created_at
),
scored AS (
    SELECT
        w.chatter,
        w.fan_id,
        w.day,
        w.creator_messages,
        w.fan_messages,
        coalesce(b.purchases, 0)                                            AS purchases,
        CAST(coalesce(b.purchase_cents, 0) AS BIGINT)                       AS purchase_cents,
        w.last_purchase_before,
        CASE WHEN b.purchases > 0 THEN 'purchase'
             WHEN w.last_purchase_before < CAST(w.day AS TIMESTAMPTZ)
                  - to_days(CAST(getvariable('qa_at_risk_days') AS INTEGER)) THEN 'at_risk'
             ELSE 'random'
        END                                                                 AS sample_reason
    FROM with_last w
    LEFT JOIN bought b USING (chatter, fan_id, day)
)
SELECT *
FROM scored
QUALIFY row_number() OVER (
    PARTITION BY chatter, day
    ORDER BY CASE sample_reason WHEN 'purchase' THEN 0 WHEN 'at_risk' THEN 1 ELSE 2 END,
             purchase_cents DESC,
             md5(chatter || ':' || fan_id || ':' || day)
) <= CAST(getvariable('qa_sample_size') AS INTEGER)
