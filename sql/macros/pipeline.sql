-- Shared definitions, loaded into every DuckDB session of the pipeline.
-- The contract's derivation rules (source-api.md) live here and nowhere else.

-- Dollars (a JSON number as text, or a number) to integer cents, rounded half up.
CREATE OR REPLACE MACRO cents(dollars) AS
    CAST(round(CAST(dollars AS DECIMAL(18, 4)) * 100) AS BIGINT);

-- What a value of each kind must be for staging to cast it (staging.cast_rejects sets aside the
-- raw items with one that is not): an id a whole number that fits 64 bits, a count a 32-bit
-- integer, money dollars within ±1,000,000 (a price: not negative), a number and an instant
-- finite, a boolean true or false. (A value that is absent is judged before these apply.)
CREATE OR REPLACE MACRO valid_id(value) AS TRY_CAST(value AS BIGINT) = TRY_CAST(value AS DOUBLE);
CREATE OR REPLACE MACRO valid_count(value) AS TRY_CAST(value AS INTEGER) IS NOT NULL;
CREATE OR REPLACE MACRO valid_money(value) AS
    abs(TRY_CAST(value AS DECIMAL(18, 4))) <= 1000000;
CREATE OR REPLACE MACRO valid_price(value) AS
    TRY_CAST(value AS DECIMAL(18, 4)) BETWEEN 0 AND 1000000;
CREATE OR REPLACE MACRO valid_number(value) AS isfinite(TRY_CAST(value AS DOUBLE));
CREATE OR REPLACE MACRO valid_instant(value) AS isfinite(TRY_CAST(value AS TIMESTAMPTZ));
CREATE OR REPLACE MACRO valid_boolean(value) AS TRY_CAST(value AS BOOLEAN) IS NOT NULL;

-- Text with HTML tags removed (descriptions and messages may carry links and markup).
CREATE OR REPLACE MACRO strip_html(html) AS
    trim(regexp_replace(coalesce(html, ''), '<[^>]*>', '', 'g'));

-- The transaction type: the explicit `type` when it is one we know (webhooks send one),
-- otherwise derived from the HTML-stripped description, case-insensitively.
CREATE OR REPLACE MACRO transaction_type(explicit_type, description_text) AS
    CASE
        WHEN lower(explicit_type) IN ('tip', 'message', 'subscription', 'post', 'stream', 'other')
            THEN lower(explicit_type)
        WHEN description_text ILIKE 'tip from%' THEN 'tip'
        WHEN description_text ILIKE '%payment for message%' THEN 'message'
        WHEN description_text ILIKE '%subscription%' THEN 'subscription'
        WHEN description_text ILIKE '%payment for post%' THEN 'post'
        WHEN description_text ILIKE '%stream%' THEN 'stream'
        ELSE 'other'
    END;

-- The API's status words mapped to ours; anything else is kept visible as 'unknown'.
CREATE OR REPLACE MACRO transaction_status(api_status) AS
    CASE
        WHEN lower(api_status) IN ('done', 'succeeded', 'completed') THEN 'succeeded'
        WHEN lower(api_status) IN ('loading', 'pending') THEN 'pending'
        WHEN lower(api_status) IN ('refund', 'refunded') THEN 'refunded'
        WHEN lower(api_status) IN ('chargeback', 'chargedback', 'disputed') THEN 'chargeback'
        ELSE 'unknown'
    END;

-- The instant every time-dependent field is computed as of (OFHQ_AS_OF or the run's start).
CREATE OR REPLACE MACRO as_of() AS getvariable('as_of');

-- Average order value in cents: integer division rounding half up; NULL without purchases.
CREATE OR REPLACE MACRO avg_order_cents(spend_cents, purchases) AS
    CASE WHEN purchases > 0 THEN (2 * spend_cents + purchases) // (2 * purchases) END;

-- A whale (fan-profile.md, price_range): lifetime spend of $1,000 or more, or AOV of $200 or more.
CREATE OR REPLACE MACRO is_whale(spend_cents, purchases) AS
    purchases > 0 AND (spend_cents >= 100000 OR avg_order_cents(spend_cents, purchases) >= 20000);

-- At most `n` days before as_of() (NULL when `instant` is NULL). The casts let sessions without
-- an as_of (the agency rollup) load this too.
CREATE OR REPLACE MACRO within_days(instant, n) AS
    instant >= CAST(as_of() AS TIMESTAMPTZ) - to_days(CAST(n AS INTEGER));

-- Seconds from `earlier` to `later` (fractional), in integer arithmetic on the UTC epoch:
-- subtracting TIMESTAMPTZ values goes through the ICU calendar and costs microseconds a row.
CREATE OR REPLACE MACRO seconds_between(earlier, later) AS
    (epoch_us(later) - epoch_us(earlier)) / 1000000;

-- The UTC day of an instant, in integer arithmetic: a cast to DATE goes through the ICU calendar
-- and costs seven times as much over millions of rows. Days are counted from 0001-01-01, so
-- that the division (which truncates) never sees a negative number.
CREATE OR REPLACE MACRO utc_day(instant) AS
    DATE '0001-01-01' + CAST((epoch_us(instant) + 62135596800000000) // 86400000000 AS INTEGER);

-- The UTC hour of an instant (0-23), in the same arithmetic and for the same reason: hour() of
-- an instant goes through the ICU calendar too.
CREATE OR REPLACE MACRO utc_hour(instant) AS
    CAST((epoch_us(instant) + 62135596800000000) // 3600000000 % 24 AS INTEGER);

-- Days from `instant` to as_of(), one decimal, for the reasons that explain a rule (the stage's
-- and the next best action's, so fan_profile has it as well as the lifecycle models).
CREATE OR REPLACE MACRO days_ago(instant) AS
    printf('%.1f', seconds_between(instant, CAST(as_of() AS TIMESTAMPTZ)) / 86400);
