"""Dagster definitions grouped by domain; `ofhq_pipeline.definitions` merges them."""
