-- A purchase of marts.transactions has a positive amount, and neither its net, its fee nor its
-- VAT is negative. Other rows (refunds, chargebacks, pending, unknown) may carry negative
-- amounts, as the API sends reversals, and are not judged here.
SELECT
    transaction_id,
    fan_id,
    created_at,
    amount_cents,
    net_cents,
    fee_cents,
    vat_cents,
    'purchase with ' || concat_ws(', ',
        CASE WHEN amount_cents <= 0 THEN 'amount_cents ' || amount_cents END,
        CASE WHEN net_cents < 0 THEN 'net_cents ' || net_cents END,
        CASE WHEN fee_cents < 0 THEN 'fee_cents ' || fee_cents END,
        CASE WHEN vat_cents < 0 THEN 'vat_cents ' || vat_cents END)    AS detail
FROM marts.transactions
WHERE is_purchase AND (amount_cents <= 0 OR net_cents < 0 OR fee_cents < 0 OR vat_cents < 0)
