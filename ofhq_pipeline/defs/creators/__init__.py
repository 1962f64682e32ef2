"""Creators: discovery from /api/accounts, one dynamic partition each, round-robin sync."""
