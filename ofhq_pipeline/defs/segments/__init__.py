"""Audience segment assets, one per segment of segments.yaml."""
