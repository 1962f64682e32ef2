-- Lifecycle definitions (fan-profile.md, Engagement signals and Relationship stage), loaded into
-- every lifecycle session after sql/macros/pipeline.sql. The thresholds live here and nowhere else.
-- "Within N days" of as_of() means at most N days (N × 24 h) before it, bounds included
-- (`within_days`, sql/macros/pipeline.sql).

-- Dollars for a reason text, e.g. 1234 → '$12.34'.
CREATE OR REPLACE MACRO dollars(cents) AS '$' || printf('%.2f', cents / 100);

-- spend_tier: lifetime spend 0 none, < $50 bronze, < $200 silver, < $1,000 gold, else platinum.
CREATE OR REPLACE MACRO spend_tier(spend_cents) AS
    CASE
        WHEN coalesce(spend_cents, 0) <= 0 THEN 'none'
        WHEN spend_cents < 5000 THEN 'bronze'
        WHEN spend_cents < 20000 THEN 'silver'
        WHEN spend_cents < 100000 THEN 'gold'
        ELSE 'platinum'
    END;

-- The lifetime spend at which each tier is reached (the milestones of fan_lifecycle_events): the
-- thresholds of spend_tier above, which milestones.sql relies on to skip purchases within a tier.
CREATE OR REPLACE MACRO spend_tier_thresholds() AS TABLE
    SELECT * FROM (VALUES ('bronze', 1), ('silver', 5000), ('gold', 20000), ('platinum', 100000))
        AS t(tier, threshold_cents);

-- A fan's last activity: his last purchase or his last message, whichever is later.
CREATE OR REPLACE MACRO last_activity(last_purchase_at, last_fan_message_at) AS
    greatest(last_purchase_at, last_fan_message_at);

-- temperature: days since the last activity ≤ 2 HOT, ≤ 7 WARM, ≤ 14 COOLING, ≤ 30 COLD, else
-- (or never active) ICE_COLD.
CREATE OR REPLACE MACRO temperature(last_activity_at) AS
    CASE
        WHEN within_days(last_activity_at, 2) THEN 'HOT'
        WHEN within_days(last_activity_at, 7) THEN 'WARM'
        WHEN within_days(last_activity_at, 14) THEN 'COOLING'
        WHEN within_days(last_activity_at, 30) THEN 'COLD'
        ELSE 'ICE_COLD'
    END;

-- time_waster_score = round(100 · m/(m+20) · 20/(20+s)), m fan messages and s purchase dollars in
-- the 30 days before as_of(). With s in cents it is 200000·m / ((m+20)·(2000+s_cents)), rounded
-- half up in exact integer arithmetic.
CREATE OR REPLACE MACRO time_waster_score(fan_messages, purchase_cents) AS
    CAST((2 * 200000 * fan_messages + (fan_messages + 20) * (2000 + purchase_cents))
         // (2 * (fan_messages + 20) * (2000 + purchase_cents)) AS INTEGER);

-- time_waster_score at or above which a fan who never paid is deprioritized, and for how long.
CREATE OR REPLACE MACRO deprioritize_score() AS 70;
CREATE OR REPLACE MACRO deprioritize_days() AS 7;

-- The relationship stage's windows, in days (fan-profile.md, Relationship stage; "within" as
-- within_days). With purchases, by days since the last one: reactivated (a purchase after a gap
-- of more than reactivation_gap_days()), then active_buyer, cooling_off, at_risk, else churned.
-- Without: new (since subscribing), warming (since the fan's last message), then by days since
-- the last activity as with purchases.
CREATE OR REPLACE MACRO reactivated_days() AS 7;
CREATE OR REPLACE MACRO reactivation_gap_days() AS 30;
CREATE OR REPLACE MACRO active_buyer_days() AS 14;
CREATE OR REPLACE MACRO new_days() AS 7;
CREATE OR REPLACE MACRO warming_days() AS 14;
CREATE OR REPLACE MACRO cooling_off_days() AS 30;
CREATE OR REPLACE MACRO at_risk_days() AS 60;
-- A subscription expired more than this long ago, not renewed, makes any stage churned...
CREATE OR REPLACE MACRO expired_churn_days() AS 30;
-- ...but a fan who bought or wrote within this window is still here: at_risk, never churned.
CREATE OR REPLACE MACRO still_here_days() AS 14;

-- follow_up_due_at, in days after the chat's latest message (either side): for cooling_off and
-- at_risk (after the last purchase when nobody wrote), and sooner for warming, where the fan is
-- the one writing.
CREATE OR REPLACE MACRO follow_up_days() AS 3;
CREATE OR REPLACE MACRO warming_follow_up_days() AS 2;

-- Stages from most to least engaged (fan_agency.best_stage): paying, then chatting, then decay.
CREATE OR REPLACE MACRO stage_rank(stage) AS
    CASE stage
        WHEN 'active_buyer' THEN 1
        WHEN 'reactivated' THEN 2
        WHEN 'warming' THEN 3
        WHEN 'new' THEN 4
        WHEN 'cooling_off' THEN 5
        WHEN 'at_risk' THEN 6
        WHEN 'churned' THEN 7
    END;
