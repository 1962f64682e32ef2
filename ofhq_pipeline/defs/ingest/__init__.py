"""Raw assets: each creator's API data stored exactly as received, one batch per sync."""
