"""marts.fan_ltv for one creator: fit MBG/NBD + Gamma-Gamma on his fans, predict every fan.

- Inputs per fan: sql/marts/fan_ltv/fan_purchase_days.sql over marts.transactions (discretionary purchases
  per UTC day; subscription payments left out).
- The purchase model is the MBG/NBD, not the BG/NBD: most fans buy once, and only the MBG/NBD
  lets a one-time buyer be gone (his probability alive falls as his silence grows; see model.py).
- The fit is per creator. A creator with fewer than `min_repeat_buyers` fans who bought on more
  than one day (or whose fit does not converge) is fitted on the agency's pool instead: his own
  transactions of this run plus every other creator's current marts.transactions
  (`fit_scope = agency`), and if that does not converge either (almost nobody bought twice),
  on the pool with a small L2 penalty (`fit_penalizer` 0.001 in the metadata). If Gamma-Gamma
  cannot be fitted (or q <= 1), the expected value per purchase is the observed mean spend per
  purchase day (`value_model = empirical_mean`).
- Output: one row per fan of marts.fan_profile. A fan with no discretionary purchase has
  `model_status = no_purchases` and null predictions (the models describe buyers).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import duckdb
import numpy as np
import polars as pl

from ofhq_pipeline.lake import Lake, atomic_write, file_list, sql_text
from ofhq_pipeline.ltv.model import (
    LIBRARY,
    FitError,
    GammaGammaParams,
    MbgNbdParams,
    expected_purchases,
    expected_value,
    fit_gamma_gamma,
    fit_mbgnbd,
    probability_alive,
)

HORIZON_DAYS = 90
FALLBACK_PENALIZER = 0.001
MODEL = f"mbg_nbd+gamma_gamma ({LIBRARY})"
TS = pl.Datetime("us", "UTC")
SCHEMA = {
    "creator_id": pl.String, "fan_id": pl.Int64, "first_purchase_at": TS,
    "frequency": pl.Int64, "recency_days": pl.Int64, "tenure_days": pl.Int64,
    "discretionary_spend_cents": pl.Int64, "avg_repeat_order_cents": pl.Int64,
    "probability_alive": pl.Float64, "churn_probability": pl.Float64,
    "expected_purchases_90d": pl.Float64, "expected_order_cents": pl.Int64,
    "expected_spend_90d_cents": pl.Int64, "model_status": pl.String, "fit_scope": pl.String,
    "value_model": pl.String, "model": pl.String, "as_of": TS,
}


@dataclass(frozen=True)
class LtvConfig:
    min_repeat_buyers: int = 30
    penalizer: float = 0.0


@dataclass
class LtvReport:
    creator_id: str
    fans: int = 0
    buyers: int = 0
    repeat_buyers: int = 0
    fit_scope: str = "creator"
    penalizer: float = 0.0
    fit_fans: int = 0
    value_model: str = "gamma_gamma"
    status: str = "ok"
    error: str | None = None
    mbgnbd: MbgNbdParams | None = None
    gamma_gamma: GammaGammaParams | None = None
    expected_spend_90d_cents: int = 0
    mean_probability_alive: float | None = None
    notes: list[str] = field(default_factory=list)

    def metadata(self) -> dict:
        data = {
            "fans": self.fans, "buyers": self.buyers, "repeat_buyers": self.repeat_buyers,
            "fit_scope": self.fit_scope, "fit_penalizer": self.penalizer,
            "fit_fans": self.fit_fans,
            "value_model": self.value_model, "status": self.status, "error": self.error or "",
            "model": MODEL, "horizon_days": HORIZON_DAYS,
            "expected_spend_90d_cents": self.expected_spend_90d_cents,
            "mean_probability_alive": self.mean_probability_alive,
            "notes": "; ".join(self.notes),
        }
        for prefix, params in (("mbgnbd", self.mbgnbd), ("gamma_gamma", self.gamma_gamma)):
            if params is not None:
                data.update({f"{prefix}_{k}": round(v, 6) for k, v in params.as_dict().items()})
        return data


def purchase_days(con: duckdb.DuckDBPyConnection, source: str) -> pl.DataFrame:
    """sql/marts/fan_ltv/fan_purchase_days.sql over `source` (a relation of marts.transactions' shape)."""
    con.execute("CREATE SCHEMA IF NOT EXISTS ltv")
    con.execute(f"CREATE OR REPLACE VIEW ltv.transactions AS {source}")
    # In fan order: the fit's floating-point sums, and so whether it converges, must not depend
    # on the order the engine happened to produce the rows in.
    return con.execute(sql_text("marts/fan_ltv/fan_purchase_days")).pl().sort("creator_id", "fan_id")


def pool_source(store: Lake, creator_id: str) -> str:
    """This run's transactions of the creator plus every other creator's current ones."""
    others = [p for p in store.current_marts().get("transactions", [])
              if p.parent.parent.name != creator_id and p.exists()]
    parts = ["SELECT * FROM marts.transactions"]
    if others:
        parts.append(f"SELECT * FROM read_parquet({file_list(others)}, union_by_name = true)")
    return " UNION ALL BY NAME ".join(parts)


def plan_fits(repeat_buyers: int, config: LtvConfig) -> list[tuple[str, float]]:
    """(scope, penalizer) in the order tried: the creator alone when he has enough repeat
    buyers, then the agency's pool, then the pool with a small L2 penalty (which keeps the
    parameters finite when almost nobody has bought twice)."""
    plans = [("creator", config.penalizer)] if repeat_buyers >= config.min_repeat_buyers else []
    plans.append(("agency", config.penalizer))
    if config.penalizer < FALLBACK_PENALIZER:
        plans.append(("agency", FALLBACK_PENALIZER))
    return plans


def fit(frame: pl.DataFrame, penalizer: float) -> tuple[MbgNbdParams, GammaGammaParams | None]:
    mbg = fit_mbgnbd(frame["frequency"].to_numpy(), frame["recency_days"].to_numpy(),
                     frame["tenure_days"].to_numpy(), penalizer=penalizer)
    try:
        gg = fit_gamma_gamma(frame["frequency"].to_numpy(),
                             frame["monetary_cents"].fill_null(0).to_numpy(),
                             penalizer=penalizer)
        if gg.mean_value is None:
            gg = None
    except FitError:
        gg = None
    return mbg, gg


def require_finite_predictions(mbg: MbgNbdParams, own: pl.DataFrame) -> None:
    """A fit whose heterogeneity collapsed (r and alpha in the millions: every fan buys at the
    same rate) has finite parameters but predictions that overflow to NaN; it counts as failed,
    so the next plan (the agency's pool, a small penalty) is tried."""
    x, t_x, age = (own[c].to_numpy() for c in ("frequency", "recency_days", "tenure_days"))
    alive = probability_alive(mbg, x, t_x, age)
    purchases = expected_purchases(mbg, HORIZON_DAYS, x, t_x, age)
    if not (np.isfinite(alive).all() and np.isfinite(purchases).all()):
        raise FitError(
            f"MBG/NBD predictions are not finite (r {mbg.r:.3g}, alpha {mbg.alpha:.3g})"
        )


def build_fan_ltv(store: Lake, creator_id: str, *, as_of: datetime, run_id: str,
                  config: LtvConfig | None = None) -> tuple[Path, LtvReport]:
    config = config or LtvConfig()
    report = LtvReport(creator_id)
    with store.session(creator_id, as_of=as_of, run_id=run_id) as con:
        fans = con.execute("SELECT creator_id, fan_id FROM marts.fan_profile").pl()
        own = purchase_days(con, "SELECT * FROM marts.transactions")
        report.fans, report.buyers = fans.height, own.height
        report.repeat_buyers = int((own["frequency"] > 0).sum()) if own.height else 0
        mbg = gg = None
        fit_frame = own
        if report.repeat_buyers < config.min_repeat_buyers:
            report.notes.append(
                f"{report.repeat_buyers} repeat buyers < {config.min_repeat_buyers}: agency pool"
            )
        for scope, penalizer in plan_fits(report.repeat_buyers, config):
            if not own.height:
                break
            if scope == "agency" and fit_frame is own:
                fit_frame = purchase_days(con, pool_source(store, creator_id))
            report.fit_scope, report.penalizer = scope, penalizer
            try:
                mbg, gg = fit(fit_frame, penalizer)
                require_finite_predictions(mbg, own)
                break
            except FitError as exc:
                mbg = gg = None
                report.notes.append(f"{scope} fit (penalizer {penalizer}) failed: {exc}")
        if mbg is None and own.height:
            report.status, report.error = "fit_failed", report.notes[-1]
    report.fit_fans = fit_frame.height
    report.mbgnbd, report.gamma_gamma = mbg, gg
    frame = predict(own, mbg, gg, fit_frame, report)
    out = (
        fans.join(frame.drop("creator_id"), on="fan_id", how="left")
        .with_columns(
            model_status=pl.col("model_status").fill_null("no_purchases"),
            fit_scope=pl.lit(report.fit_scope), model=pl.lit(MODEL),
            as_of=pl.lit(as_of, dtype=TS),
        )
        .select([pl.col(c).cast(t) for c, t in SCHEMA.items()])
        .sort("fan_id")
    )
    report.expected_spend_90d_cents = int(out["expected_spend_90d_cents"].fill_null(0).sum())
    alive = out["probability_alive"].drop_nulls()
    report.mean_probability_alive = round(float(alive.mean()), 4) if alive.len() else None
    path = store.mart_path("fan_ltv", creator_id, run_id)
    atomic_write(path, lambda tmp: out.write_parquet(tmp, compression="zstd"))
    return path, report


def predict(own: pl.DataFrame, mbg: MbgNbdParams | None, gg: GammaGammaParams | None,
            fit_frame: pl.DataFrame, report: LtvReport) -> pl.DataFrame:
    base = own.select(
        "creator_id", "fan_id", "first_purchase_at", "frequency", "recency_days", "tenure_days",
        discretionary_spend_cents="spend_cents",
        avg_repeat_order_cents=pl.col("monetary_cents").round(0).cast(pl.Int64),
    )
    if mbg is None or not own.height:
        return base.with_columns(
            probability_alive=pl.lit(None, dtype=pl.Float64),
            churn_probability=pl.lit(None, dtype=pl.Float64),
            expected_purchases_90d=pl.lit(None, dtype=pl.Float64),
            expected_order_cents=pl.lit(None, dtype=pl.Int64),
            expected_spend_90d_cents=pl.lit(None, dtype=pl.Int64),
            model_status=pl.lit("fit_failed"),
            value_model=pl.lit(None, dtype=pl.String),
        )
    x = own["frequency"].to_numpy()
    t_x = own["recency_days"].to_numpy()
    age = own["tenure_days"].to_numpy()
    m = own["monetary_cents"].fill_null(0).to_numpy()
    alive = np.clip(probability_alive(mbg, x, t_x, age), 0.0, 1.0)
    purchases = expected_purchases(mbg, HORIZON_DAYS, x, t_x, age)
    if gg is not None:
        value = expected_value(gg, x, m)
    else:
        report.value_model = "empirical_mean"
        pooled = fit_frame["spend_cents"].sum() / max(1, (fit_frame["frequency"] + 1).sum())
        value = np.full(x.shape, float(pooled))
    return base.with_columns(
        probability_alive=pl.Series(np.round(alive, 6)),
        churn_probability=pl.Series(np.round(1.0 - alive, 6)),
        expected_purchases_90d=pl.Series(np.round(purchases, 6)),
        expected_order_cents=pl.Series(np.round(value)).cast(pl.Int64),
        expected_spend_90d_cents=pl.Series(np.round(purchases * value)).cast(pl.Int64),
        model_status=pl.lit("ok"),
        value_model=pl.lit(report.value_model),
    )
