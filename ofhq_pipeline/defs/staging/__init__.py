"""Staging: typed, deduplicated tables per creator, guarded by blocking pandera checks, and the
raw rows set aside because a value does not cast (staging.cast_rejects, with a warning check)."""
