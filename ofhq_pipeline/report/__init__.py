"""The System Intelligence report: what it collects from the analysts' file and how it renders."""
