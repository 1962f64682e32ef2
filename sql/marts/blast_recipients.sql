-- marts.blast_recipients: one row per blast and fan of its segment, `(creator_id, blast_id,
-- fan_id)`: who was sent the blast, held out or excluded, what became of the send, and what he
-- spent in the 7 days that followed, as of as_of().
--
-- Source: the blast job's ledger, which records every (blast, fan) before anything is sent and
-- marks each row after (ledger.blast_recipients, joined to its blast in ledger.blasts), taken as
-- the ledger holds it now; the money is marts.transactions (every transaction created at or
-- before as_of(), with its status as of then).
--
-- outcome, from the ledger's state: `sent` (sent), `failed` (failed), `scheduled` (queued: the API
-- took it, not delivered yet), `pending` (planned or sending: the API has not confirmed it yet),
-- `held_out` (held_out), `excluded` (excluded); null for any other state.
--
-- The measurement window, the same for both cohorts:
--   window_start  a `sent` fan: his sent_at (when the API delivered it). A `held_out` fan: when he
--                 would have received it, his scheduled_at if the blast was scheduled for him, else
--                 the blast's first sent_at (the earliest sent_at of its `sent` fans). Null for
--                 every other outcome, for a holdout of a blast nothing was sent for yet, and
--                 when that instant is after as_of() (the window has not begun).
--   window_end    window_start + 7 days (7 × 24 h).
--   A purchase is in his window when window_start <= created_at < window_end and
--   created_at <= as_of(): [window_start, window_end) cut at as_of() (included; marts.transactions
--   holds nothing later). A purchase at the very instant of the send counts, one exactly 7 days
--   after it does not.
--   window_complete: as_of() >= window_end (false when there is no window).
--
-- revenue_7d_cents / purchases_7d: amount and count of his purchases (is_purchase: succeeded and
-- paid as of as_of(), so a refunded or charged-back one is not) in the window, of every type;
-- 0 when none, null without a window.
--
-- The unlock: for a `sent` fan asked a price (price_cents > 0), his first PPV purchase (type
-- `message`) in the window whose amount_cents equals his price_cents (the price rule
-- marts.fan_asset_status matches purchases to offers by); the earliest by created_at, then
-- transaction_id. Null for anyone else, and for a free send.
WITH blasts AS (
    SELECT creator_id, blast_id, segment
    FROM ledger.blasts
),
recipients AS (
    SELECT
        r.creator_id,
        r.blast_id,
        r.fan_id,
        b.segment,
        r.cohort,
        CASE r.state
            WHEN 'sent' THEN 'sent'
            WHEN 'failed' THEN 'failed'
            WHEN 'queued' THEN 'scheduled'
            WHEN 'planned' THEN 'pending'
            WHEN 'sending' THEN 'pending'
            WHEN 'held_out' THEN 'held_out'
            WHEN 'excluded' THEN 'excluded'
        END                                                        AS outcome,
        r.reason,
        r.failure_reason,
        r.price_cents,
        r.price_basis,
        r.scheduled_at,
        r.sent_at,
        r.queue_id
    FROM ledger.blast_recipients AS r
    JOIN blasts AS b ON b.creator_id = r.creator_id AND b.blast_id = r.blast_id
),
blast_first_sends AS (
    SELECT creator_id, blast_id, min(sent_at) AS first_sent_at
    FROM recipients
    WHERE outcome = 'sent'
    GROUP BY creator_id, blast_id
),
window_starts AS (
    -- When each fan's 7 days begin: the delivery of his message, or (held out) when it would
    -- have been delivered; none before it happened as of as_of().
    SELECT
        r.*,
        CASE
            WHEN r.outcome = 'sent' THEN r.sent_at
            WHEN r.outcome = 'held_out' THEN coalesce(r.scheduled_at, f.first_sent_at)
        END                                                        AS would_start_at
    FROM recipients AS r
    LEFT JOIN blast_first_sends AS f ON f.creator_id = r.creator_id AND f.blast_id = r.blast_id
),
windows AS (
    SELECT
        * EXCLUDE (would_start_at),
        CASE WHEN would_start_at <= as_of() THEN would_start_at END AS window_start,
        CASE WHEN would_start_at <= as_of() THEN would_start_at + INTERVAL 7 DAY END
                                                                   AS window_end
    FROM window_starts
),
purchases AS (
    SELECT creator_id, fan_id, transaction_id, created_at, type, amount_cents
    FROM marts.transactions
    WHERE is_purchase AND created_at <= as_of()
),
purchases_in_window AS (
    SELECT
        w.creator_id,
        w.blast_id,
        w.fan_id,
        w.outcome,
        w.price_cents,
        p.transaction_id,
        p.created_at,
        p.type,
        p.amount_cents
    FROM windows AS w
    JOIN purchases AS p
        ON p.creator_id = w.creator_id
        AND p.fan_id = w.fan_id
        AND p.created_at >= w.window_start
        AND p.created_at < w.window_end
),
revenue AS (
    SELECT
        creator_id,
        blast_id,
        fan_id,
        CAST(sum(amount_cents) AS BIGINT)                          AS revenue_7d_cents,
        count(*)                                                   AS purchases_7d
    FROM purchases_in_window
    GROUP BY creator_id, blast_id, fan_id
),
unlocks AS (
    SELECT
        creator_id,
        blast_id,
        fan_id,
        min(created_at)                                            AS unlocked_at,
        arg_min(transaction_id, (created_at, transaction_id))      AS unlock_transaction_id,
        arg_min(amount_cents, (created_at, transaction_id))        AS unlock_cents
    FROM purchases_in_window
    WHERE outcome = 'sent'
        AND price_cents > 0
        AND type = 'message'
        AND amount_cents = price_cents
    GROUP BY creator_id, blast_id, fan_id
)
SELECT
    w.creator_id,
    w.blast_id,
    w.fan_id,
    w.segment,
    w.cohort,
    w.outcome,
    w.reason,
    w.failure_reason,
    w.price_cents,
    w.price_basis,
    w.scheduled_at,
    w.sent_at,
    w.queue_id,
    w.window_start,
    w.window_end,
    coalesce(as_of() >= w.window_end, false)                       AS window_complete,
    CASE WHEN w.window_start IS NOT NULL THEN coalesce(r.revenue_7d_cents, 0) END
                                                                   AS revenue_7d_cents,
    CASE WHEN w.window_start IS NOT NULL THEN coalesce(r.purchases_7d, 0) END
                                                                   AS purchases_7d,
    u.unlocked_at,
    u.unlock_transaction_id,
    u.unlock_cents,
    as_of()                                                        AS as_of
FROM windows AS w
LEFT JOIN revenue AS r
    ON r.creator_id = w.creator_id AND r.blast_id = w.blast_id AND r.fan_id = w.fan_id
LEFT JOIN unlocks AS u
    ON u.creator_id = w.creator_id AND u.blast_id = w.blast_id AND u.fan_id = w.fan_id
