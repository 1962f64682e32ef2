"""Audience segments: filters over the fan profile, defined in segments.yaml."""
