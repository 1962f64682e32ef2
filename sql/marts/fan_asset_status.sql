-- marts.fan_asset_status: "has he bought this?", one row per fan and vault item the creator sent
-- him (a pair never sent is `never_sent` and has no row; see sql/published/analyst_macros.sql).
--
-- Sends are the creator's messages in the fan's chat that carry media, at or before as_of(),
-- mass-message sends included: `price_cents > 0` is a PPV offer of every item it carries,
-- `price_cents = 0` sends them free.
--
-- A PPV purchase (marts.transactions of type `message` that is a purchase as of as_of()) unlocks
-- the media of the offer it pays for: the most recent offer to that fan at or before the purchase
-- with the same price (amount_cents = price_cents) that no earlier purchase has unlocked. Offers
-- and purchases of one fan and price are walked in time order (an offer before a purchase at the
-- same instant); each purchase pops the newest open offer off a stack. In SQL: `depth` is the
-- stack height after each event (the running sum of +1 per offer and -1 per purchase, reflected
-- at 0: a purchase with no open offer pops nothing); a purchase taken at height `level` pops the
-- latest offer that pushed the stack to that same height. A purchase matching no offer (its offer
-- was never synced, or its price differs) unlocks nothing.
--
-- Status: `bought` when a purchase unlocked an offer carrying the item; else `sent_free` when it
-- was ever sent to him free (he has it); else `offered_unbought`. A refunded or charged-back
-- purchase is not a purchase as of then, so it unlocks nothing.
WITH sends AS (
    SELECT creator_id, fan_id, message_id, created_at, price_cents, is_mass_message, media_ids
    FROM staging.messages
    WHERE NOT is_from_fan AND len(media_ids) > 0 AND created_at <= as_of()
),
purchases AS (
    SELECT fan_id, transaction_id, created_at, amount_cents
    FROM marts.transactions
    WHERE is_purchase AND type = 'message' AND fan_id IS NOT NULL
),
events AS (
    SELECT fan_id, price_cents AS price, created_at, 0 AS kind, message_id AS offer_id,
           CAST(NULL AS VARCHAR) AS transaction_id, 1 AS step
    FROM sends
    WHERE price_cents > 0
    UNION ALL
    SELECT fan_id, amount_cents, created_at, 1, NULL, transaction_id, -1
    FROM purchases
),
walk AS (
    SELECT
        *,
        row_number() OVER w AS seq,
        sum(step) OVER w AS s,
        least(0, min(s_prev) OVER w) AS floor_prev
    FROM (
        SELECT *, sum(step) OVER w0 - step AS s_prev
        FROM events
        WINDOW w0 AS (PARTITION BY fan_id, price ORDER BY created_at, kind, offer_id, transaction_id
                      ROWS UNBOUNDED PRECEDING)
    )
    WINDOW w AS (PARTITION BY fan_id, price ORDER BY created_at, kind, offer_id, transaction_id
                 ROWS UNBOUNDED PRECEDING)
),
heights AS (
    -- depth: the reflected walk after the event; level: a purchase's stack height before it
    SELECT
        *,
        s - least(floor_prev, s) AS depth,
        s_prev - floor_prev AS level
    FROM walk
),
offers AS (
    SELECT fan_id, price, seq, depth, offer_id FROM heights WHERE kind = 0
),
unlocks AS (
    SELECT b.fan_id, b.price, b.created_at AS bought_at, b.transaction_id, o.offer_id
    FROM (SELECT * FROM heights WHERE kind = 1 AND level >= 1) AS b
    ASOF JOIN offers AS o
        ON b.fan_id = o.fan_id AND b.price = o.price AND b.level = o.depth AND b.seq > o.seq
),
sent_items AS (
    SELECT DISTINCT creator_id, fan_id, message_id, created_at, price_cents, is_mass_message,
           unnest(media_ids) AS media_id
    FROM sends
),
bought_items AS (
    SELECT si.fan_id, si.media_id, u.bought_at, u.price AS bought_price_cents, u.transaction_id,
           u.offer_id
    FROM unlocks AS u
    JOIN sent_items AS si ON si.fan_id = u.fan_id AND si.message_id = u.offer_id
),
bought AS (
    SELECT
        fan_id,
        media_id,
        count(*)                                                   AS times_bought,
        min(bought_at)                                             AS bought_at,
        arg_min(bought_price_cents, (bought_at, transaction_id))   AS bought_price_cents,
        arg_min(transaction_id, (bought_at, transaction_id))       AS bought_transaction_id,
        arg_min(offer_id, (bought_at, transaction_id))             AS bought_offer_message_id,
        list(transaction_id ORDER BY bought_at, transaction_id)    AS bought_transaction_ids
    FROM bought_items
    GROUP BY ALL
),
sent AS (
    SELECT
        creator_id,
        fan_id,
        media_id,
        min(created_at)                                            AS first_sent_at,
        max(created_at)                                            AS last_sent_at,
        count(*) FILTER (WHERE price_cents = 0)                    AS times_sent_free,
        count(*) FILTER (WHERE price_cents > 0)                    AS times_offered,
        count(*) FILTER (WHERE price_cents > 0 AND is_mass_message) AS times_offered_mass,
        min(created_at) FILTER (WHERE price_cents > 0)             AS first_offered_at,
        max(created_at) FILTER (WHERE price_cents > 0)             AS last_offered_at,
        arg_max(price_cents, (created_at, message_id)) FILTER (WHERE price_cents > 0)
                                                                   AS last_offer_price_cents,
        min(price_cents) FILTER (WHERE price_cents > 0)            AS min_offer_price_cents
    FROM sent_items
    GROUP BY ALL
)
SELECT
    s.creator_id,
    s.fan_id,
    s.media_id,
    v.media_type,
    v.media_id IS NOT NULL                                         AS in_vault,
    CASE
        WHEN b.media_id IS NOT NULL THEN 'bought'
        WHEN s.times_sent_free > 0 THEN 'sent_free'
        ELSE 'offered_unbought'
    END                                                            AS status,
    s.first_sent_at,
    s.last_sent_at,
    s.times_sent_free,
    s.times_offered,
    s.times_offered_mass,
    s.first_offered_at,
    s.last_offered_at,
    s.last_offer_price_cents,
    s.min_offer_price_cents,
    coalesce(b.times_bought, 0)                                    AS times_bought,
    b.bought_at,
    b.bought_price_cents,
    b.bought_transaction_id,
    b.bought_offer_message_id,
    b.bought_transaction_ids,
    as_of()                                                        AS as_of
FROM sent AS s
LEFT JOIN bought AS b USING (fan_id, media_id)
LEFT JOIN staging.vault_media AS v ON v.media_id = s.media_id
