"""Staging: the typed, deduplicated tables over raw, their pandera schemas and the rejects."""
