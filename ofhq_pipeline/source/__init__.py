"""Reading the OnlyFans API: its client and a simulator of it."""
