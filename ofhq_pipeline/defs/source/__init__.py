"""The source's wiring: the creator accounts (the partitions), each creator's raw feeds as
received, the per-creator sync job and the schedules that discover and rotate creators."""
