"""The marts' own rules beyond their SQL: the cross-field invariants every fan must keep."""
