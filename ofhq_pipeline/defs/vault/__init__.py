"""Vault intelligence assets: fan asset status, the vault, its tags, recommendations."""
