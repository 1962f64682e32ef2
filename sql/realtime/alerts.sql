-- The alerts one creator's recent activity calls for. Each has a key that makes it go out once,
-- whoever evaluates it again. Only events received in the last `alert_window_hours` before
-- as_of() count, so a first sync of old history pages nobody.
WITH recent AS (
    SELECT event, payload::JSON AS p
    FROM raw.webhook_events
    WHERE fetched_at >= as_of() - to_hours(getvariable('alert_window_hours'))
      AND fetched_at <= as_of()
),
new_subscribers AS (
    SELECT
        'new_subscriber'                                                         AS rule,
        'new_subscriber:' || (p ->> '$.user.id') || ':' || coalesce(p ->> '$.subscribeAt', '')
                                                                                 AS alert_key,
        CAST(p ->> '$.user.id' AS BIGINT)                                        AS fan_id,
        'New subscriber ' || coalesce(p ->> '$.user.name', p ->> '$.user.username', p ->> '$.user.id')
            || coalesce(' at $' || printf('%.2f', cents(p ->> '$.price') / 100), '') AS message
    FROM recent
    WHERE event = 'subscriptions.new' AND (p ->> '$.user.id') IS NOT NULL
),
big_tips AS (
    SELECT
        'big_tip',
        'big_tip:' || coalesce(p ->> '$.id', md5(p::VARCHAR)),
        CAST(p ->> '$.user.id' AS BIGINT),
        'Tip of $' || printf('%.2f', cents(p ->> '$.amountGross') / 100) || ' from '
            || coalesce(p ->> '$.user.name', p ->> '$.user.username', p ->> '$.user.id')
    FROM recent
    WHERE event = 'tips.received'
      AND cents(p ->> '$.amountGross') >= getvariable('tip_threshold_cents')
),
ppv_unlocked AS (
    -- The fan is `user.id`, or the chat named in the message link; never the top-level `user_id`.
    SELECT
        'ppv_unlocked',
        'ppv_unlocked:' || coalesce(p ->> '$.id', md5(p::VARCHAR)),
        CAST(coalesce(p ->> '$.user.id',
                      regexp_extract(p ->> '$.replacePairs."{MESSAGE_LINK}"', '/chat/(\d+)', 1))
             AS BIGINT),
        'PPV unlocked by ' || coalesce(p ->> '$.user.name', p ->> '$.user.username', 'fan '
            || regexp_extract(p ->> '$.replacePairs."{MESSAGE_LINK}"', '/chat/(\d+)', 1))
            || ' for ' || coalesce(p ->> '$.replacePairs."{AMOUNT}"', 'an unknown amount')
    FROM recent
    WHERE event = 'messages.ppv.unlocked'
),
webhook_purchases AS (
    -- Each fan's earliest purchase that arrived by webhook in the window.
    SELECT t.fan_id, t.created_at, t.transaction_id
    FROM marts.transactions AS t
    JOIN recent AS r ON r.event = 'transactions.new' AND (r.p ->> '$.id') = t.transaction_id
    WHERE t.is_purchase
    QUALIFY row_number() OVER (PARTITION BY t.fan_id ORDER BY t.created_at, t.transaction_id) = 1
),
new_whales AS (
    -- A whale now, and not one on the purchases made before that webhook purchase.
    SELECT
        'new_whale',
        'new_whale:' || f.fan_id,
        f.fan_id,
        'New whale: ' || coalesce(f.name, f.username, 'fan ' || f.fan_id) || ', lifetime $'
            || printf('%.2f', f.lifetime_spend_cents / 100)
    FROM marts.fan_profile AS f
    JOIN webhook_purchases AS w USING (fan_id)
    WHERE f.price_range = 'whale'
      AND NOT (
          SELECT is_whale(coalesce(sum(b.amount_cents), 0), count(*))
          FROM marts.transactions AS b
          WHERE b.fan_id = w.fan_id AND b.is_purchase
            AND (b.created_at, b.transaction_id) < (w.created_at, w.transaction_id)
      )
),
chargebacks AS (
    SELECT
        'chargeback',
        'chargeback:' || t.transaction_id,
        t.fan_id,
        'Chargeback of $' || printf('%.2f', t.amount_cents / 100) || ' by fan ' || t.fan_id
            || ' (' || t.transaction_id || ')'
    FROM staging.transactions AS t
    WHERE t.status = 'chargeback'
      AND (t.chargeback_at BETWEEN as_of() - to_hours(getvariable('alert_window_hours')) AND as_of()
           OR t.transaction_id IN (SELECT p ->> '$.id' FROM recent WHERE event = 'transactions.new'))
)
SELECT * FROM new_subscribers
UNION ALL SELECT * FROM big_tips
UNION ALL SELECT * FROM ppv_unlocked
UNION ALL SELECT * FROM new_whales
UNION ALL SELECT * FROM chargebacks
ORDER BY alert_key
