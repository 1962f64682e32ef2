-- The KPI columns of chatter_performance_daily and chatter_shift_performance, one definition for
-- both grains: from the grain's `sent`, `bought` and `turns` rows (each NULL where the grain had
-- none), a struct that `unnest(...)` spreads into the columns, in this order.
CREATE OR REPLACE MACRO chatters.kpi_columns(sent, bought, turns) AS {
    'messages_sent':      coalesce(sent.messages_sent, 0),
    'mass_messages_sent': coalesce(sent.mass_messages_sent, 0),
    'fans_messaged':      coalesce(sent.fans_messaged, 0),
    'ppv_offered':        coalesce(sent.ppv_offered, 0),
    'ppv_unlocked':       coalesce(bought.ppv_unlocked, 0),
    'unlock_ratio':       CASE WHEN sent.ppv_offered > 0
                               THEN round(least(1.0, coalesce(bought.ppv_unlocked, 0)
                                                     / sent.ppv_offered), 4)
                          END,
    'ppv_revenue_cents':  CAST(coalesce(bought.ppv_revenue_cents, 0) AS BIGINT),
    'tips':               coalesce(bought.tips, 0),
    'tip_revenue_cents':  CAST(coalesce(bought.tip_revenue_cents, 0) AS BIGINT),
    'revenue_cents':      CAST(coalesce(bought.ppv_revenue_cents, 0)
                               + coalesce(bought.tip_revenue_cents, 0) AS BIGINT),
    'fan_turns':          coalesce(turns.fan_turns, 0),
    'turns_answered':     coalesce(turns.turns_answered, 0),
    'median_answer_s':    CAST(round(turns.median_answer_s) AS BIGINT),
    'p90_answer_s':       CAST(round(turns.p90_answer_s) AS BIGINT),
    'fans_answered':      coalesce(turns.fans_answered, 0),
    'fans_left_waiting':  coalesce(turns.fans_left_waiting, 0)
};
