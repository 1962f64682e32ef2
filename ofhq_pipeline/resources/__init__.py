"""Dagster resources: the lake (files + DuckDB engine), the OnlyFans API, run settings."""
