"""The agency-wide fan view: one row per person across every creator of the agency.

It spans creators, so it is built when the analysts' file is published, from the fan_profile
each creator's manifest makes current, into lake/agency/fan_agency.parquet; publishing then
serves it like any mart (`marts.fan_agency`), always consistent with the fan_profile beside it.
"""

from __future__ import annotations

from pathlib import Path

from ofhq_pipeline.lake import Lake, quote


def fan_agency_path(store: Lake) -> Path:
    return store.root / "agency" / "fan_agency.parquet"


def write_fan_agency(store: Lake, fan_profiles: list[Path] | None = None) -> int:
    """Roll the current fan_profile of every creator up into fan_agency.parquet; its row count.

    Without any fan_profile yet, nothing is written and 0 is returned.
    """
    files = sorted(fan_profiles if fan_profiles is not None
                   else store.current_marts().get("fan_profile", []))
    if not files:
        return 0
    con = store.connect()
    try:
        con.execute("CREATE SCHEMA marts")
        sources = "[" + ", ".join(quote(f) for f in files) + "]"
        con.execute(
            "CREATE VIEW marts.fan_profile AS "
            f"SELECT * FROM read_parquet({sources}, union_by_name = true)"
        )
        return store.write_model(con, "marts/fan_agency", fan_agency_path(store))
    finally:
        con.close()
