"""Lifetime value and churn: MBG/NBD and Gamma-Gamma per creator."""
