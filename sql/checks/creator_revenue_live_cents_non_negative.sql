-- Today's revenue sums today's purchases (amount > 0): none of its money columns is negative.
WITH cents AS (
    UNPIVOT (
        SELECT creator_id, day, gross_cents, net_cents, tips_cents, ppv_cents
        FROM marts.creator_revenue_live
        WHERE least(gross_cents, net_cents, tips_cents, ppv_cents) < 0
    )
    ON gross_cents, net_cents, tips_cents, ppv_cents
    INTO NAME money_column VALUE cents
)
SELECT creator_id, day, money_column, cents, money_column || ' is ' || cents AS detail
FROM cents
WHERE cents < 0
