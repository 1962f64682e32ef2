-- chatters.purchase_attribution: every purchase at or before as_of() (marts.transactions), and the
-- chatter it is credited to.
-- * A PPV unlock (type `message`) and any other non-tip purchase: the chatter on shift when it
--   happened, as for messages ('shift', or 'gap' / 'overlap': credited to no one).
-- * A tip: the chatter of the latest personal (not mass) creator message to the same fan in the
--   `chatter_tip_window_minutes` (30) before it, both ends inclusive ('message'); that message's
--   'gap' / 'overlap' when it was attributed to no one; 'no_message' when there is none.
-- Only `message` and `tip` purchases count as revenue of a chatter (`is_chatter_revenue`).
WITH purchases AS (
    SELECT transaction_id, fan_id, created_at, type, amount_cents
    FROM chatters.purchases
    WHERE created_at >= coalesce(CAST(getvariable('chatter_since') AS TIMESTAMPTZ), '-infinity')
),
on_shift AS (
    SELECT
        p.transaction_id,
        CASE WHEN p.created_at < g.seg_end THEN g.chatters END AS chatters,
        g.chatter,
        g.shift_id
    FROM purchases p
    ASOF LEFT JOIN chatters.shift_segments g ON p.created_at >= g.seg_start
),
last_message AS (
    SELECT
        p.transaction_id,
        arg_max(m.chatter, (m.created_at, m.message_id))        AS chatter,
        arg_max(m.shift_id, (m.created_at, m.message_id))       AS shift_id,
        arg_max(m.attribution, (m.created_at, m.message_id))    AS attribution,
        arg_max(m.message_id, (m.created_at, m.message_id))     AS message_id
    FROM purchases p
    JOIN chatters.message_attribution m
      ON m.fan_id = p.fan_id
     AND NOT m.is_from_fan
     AND NOT m.is_mass_message
     AND m.created_at <= p.created_at
     AND m.created_at >= p.created_at
         - to_minutes(CAST(getvariable('chatter_tip_window_minutes') AS BIGINT))
    WHERE p.type = 'tip'
    GROUP BY p.transaction_id
)
SELECT
    p.transaction_id,
    p.fan_id,
    p.created_at,
    CAST(p.created_at AS DATE)                                  AS day,
    p.type,
    p.amount_cents,
    p.type IN ('message', 'tip')                                AS is_chatter_revenue,
    CASE WHEN p.type = 'tip' THEN l.chatter
         WHEN o.chatters = 1 THEN o.chatter END                 AS chatter,
    CASE WHEN p.type = 'tip' THEN l.shift_id
         WHEN o.chatters = 1 THEN o.shift_id END                AS shift_id,
    CASE WHEN p.type = 'tip' THEN
              CASE WHEN l.transaction_id IS NULL THEN 'no_message'
                   WHEN l.attribution = 'shift' THEN 'message'
                   ELSE l.attribution END
         WHEN o.chatters IS NULL THEN 'gap'
         WHEN o.chatters = 1 THEN 'shift'
         ELSE 'overlap' END                                     AS attribution,
    l.message_id                                                AS credited_message_id
FROM purchases p
LEFT JOIN on_shift o USING (transaction_id)
LEFT JOIN last_message l USING (transaction_id)
