"""Staging: typed, deduplicated tables per creator, guarded by blocking pandera checks."""
