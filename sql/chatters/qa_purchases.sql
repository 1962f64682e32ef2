-- chatters.qa_purchases: the purchases credited to the chatter in each sampled conversation (PPV
-- unlocks and tips), shown to the reviewer between the messages.
SELECT
    q.chatter,
    q.fan_id,
    q.day,
    p.created_at,
    p.type,
    p.amount_cents
FROM chatters.qa_sample q
JOIN chatters.purchase_attribution p
  ON p.fan_id = q.fan_id AND p.day = q.day AND p.chatter = q.chatter AND p.is_chatter_revenue
