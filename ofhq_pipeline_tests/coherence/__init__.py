"""Intelligence an agency can trust: one clock, invariants, checks that mean what they show."""
