"""System Intelligence report: the agency at a glance, in the Dagster UI and as a web page."""
