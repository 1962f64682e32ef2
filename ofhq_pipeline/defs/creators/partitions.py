"""Every creator account is a partition, so each can be synced, retried and inspected alone."""

import dagster as dg

creator_partitions = dg.DynamicPartitionsDefinition(name="creators")
