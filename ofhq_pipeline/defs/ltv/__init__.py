"""Lifetime value assets: marts/fan_ltv."""
