"""Lifetime value and churn: BG/NBD and Gamma-Gamma per creator."""
