"""Marts: fan_profile and the money marts per creator, published atomically for analysts."""
