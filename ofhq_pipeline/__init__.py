"""ofhq-pipeline: a Dagster asset graph that turns an OnlyFans agency's API data into fan marts."""
