"""Vault intelligence: vault items, their tags, what each fan has of them, what to offer him."""
