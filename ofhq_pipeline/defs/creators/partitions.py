"""Every creator account is a partition, so each can be synced, retried and inspected alone."""

import re

import dagster as dg

# A creator id names folders of the lake, so only plain ids become partitions.
CREATOR_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")

creator_partitions = dg.DynamicPartitionsDefinition(name="creators")


def is_creator_id(value: object) -> bool:
    return isinstance(value, str) and CREATOR_ID.fullmatch(value) is not None
