-- Purchases whose chat context goes into a fan's window (classifier.md): PPV messages and tips
-- bought at or before as_of() (marts.transactions only holds those).
SELECT fan_id, created_at AS purchase_at, type
FROM marts.transactions
WHERE is_purchase AND type IN ('message', 'tip')
