"""segments.yaml: audience segments as filters over the fan profile, compiled to SQL safely.

    segments:
      - name: whales_cooling_off            # [a-z][a-z0-9_]*, the asset is segments/<name>
        description: Whales drifting away    # shown in the UI
        include_expired: false               # may a blast reach fans whose subscription ended?
        where:                               # a list means all of them
          - {field: price_range, op: eq, value: whale}
          - {field: stage, op: in, value: [cooling_off, at_risk]}
          - any:
              - {field: intent_ready_to_buy, op: gte, value: 60}
              - {field: last_fan_message_at, op: within_days, value: 7}
          - not: {field: chargeback_risk, op: eq, value: true}
          - {has_not_bought: 7012}           # vault item 7012 (marts.fan_asset_status)
          - {asset_status: {media_id: 7013, in: [never_sent, offered_unbought]}}

Only the fields of `fields.FIELDS` and the operators their kind allows reach the SQL: column names
come from that whitelist (quoted), every value is a bound parameter. Anything else is a
`SegmentError` naming the segment, where in it, and the bad field, operator or value.

Operators: eq ne in not_in (text, numbers; enumerated fields check their values), gt gte lt lte
between (numbers), within_days older_than_days before after (instants: relative to as_of(), or
ISO-8601), contains contains_any contains_all is_empty is_not_empty (lists), is_null is_not_null
(any). `ne` and `not_in` count a missing value as different; every other comparison with a
missing value is false (so `older_than_days` leaves out a fan never active: add `is_null` in an
`any` to include him). `not` holds when its condition does not (a missing value included).
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ofhq_pipeline.segments.fields import (
    ASSET_STATUSES,
    BOOL,
    FIELDS,
    ITEM_FILTERS,
    LIST,
    NUMBER,
    OPERATORS,
    TIME,
    Field,
)
from ofhq_pipeline.settings import PROJECT_ROOT, parse_instant

NAME = re.compile(r"^[a-z][a-z0-9_]{0,47}$")
SEGMENT_KEYS = {"name", "description", "where", "include_expired"}
DEFAULT_PATH = PROJECT_ROOT / "segments.yaml"
NO_VALUE = {"is_null", "is_not_null", "is_empty", "is_not_empty"}


class SegmentError(ValueError):
    """A segment definition that cannot be compiled; the message names segment and field."""


@dataclass(frozen=True)
class Segment:
    name: str
    description: str
    where: Any
    condition: str  # a boolean SQL expression over the base relation `b`
    params: tuple
    sources: frozenset[str] = field(default_factory=frozenset)  # marts the condition reads
    # A blast to the segment also sends to fans whose subscription expired (left out by default).
    include_expired: bool = False

    @property
    def definition_hash(self) -> str:
        text = json.dumps(self.where, sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    @property
    def fields(self) -> list[str]:
        return sorted(_fields_of(self.where))


def _fields_of(node: Any) -> set[str]:
    if isinstance(node, list):
        return set().union(*(_fields_of(n) for n in node)) if node else set()
    if isinstance(node, dict):
        if "field" in node:
            return {str(node["field"])}
        return set().union(*(_fields_of(v) for v in node.values())) if node else set()
    return set()


# ---- compiling ------------------------------------------------------------------------------
class _Compiler:
    def __init__(self, segment: str) -> None:
        self.segment = segment
        self.params: list[Any] = []
        self.sources: set[str] = {"fan_profile"}

    def fail(self, where: str, message: str) -> SegmentError:
        return SegmentError(f"segment '{self.segment}', {where}: {message}")

    def bind(self, value: Any) -> str:
        self.params.append(value)
        return "?"

    def node(self, node: Any, where: str) -> str:
        if isinstance(node, list):
            return self.combine("all", node, where)
        if not isinstance(node, dict) or not node:
            raise self.fail(where, f"expected a condition (a mapping), got {node!r}")
        if "field" in node:
            return self.leaf(node, where)
        keys = set(node)
        if len(keys) != 1:
            raise self.fail(where, f"one of all/any/not/field/{'/'.join(ITEM_FILTERS)} per "
                                   f"condition, got {sorted(keys)}")
        (key,) = keys
        if key in ("all", "any"):
            return self.combine(key, node[key], f"{where}.{key}")
        if key == "not":
            return f"NOT coalesce({self.node(node[key], f'{where}.not')}, false)"
        if key in ITEM_FILTERS:
            return self.item(key, node[key], f"{where}.{key}")
        raise self.fail(where, f"unknown condition '{key}' (use field, all, any, not, "
                               f"{', '.join(ITEM_FILTERS)})")

    def combine(self, kind: str, items: Any, where: str) -> str:
        if not isinstance(items, list) or not items:
            raise self.fail(where, f"'{kind}' needs a non-empty list of conditions")
        joiner = " AND " if kind == "all" else " OR "
        return "(" + joiner.join(self.node(n, f"{where}[{i}]") for i, n in enumerate(items)) + ")"

    def leaf(self, node: dict, where: str) -> str:
        extra = set(node) - {"field", "op", "value"}
        if extra:
            raise self.fail(where, f"unknown keys {sorted(extra)} (a field condition has field, "
                                   "op, value)")
        name = node["field"]
        spec = FIELDS.get(name) if isinstance(name, str) else None
        if spec is None:
            raise self.fail(where, f"unknown field {name!r}; allowed fields: "
                                   f"{', '.join(sorted(FIELDS))}")
        op = node.get("op")
        if op not in OPERATORS[spec.kind]:
            raise self.fail(where, f"field '{name}' ({spec.kind}) has no operator {op!r}; "
                                   f"allowed: {', '.join(OPERATORS[spec.kind])}")
        if op in NO_VALUE:
            if node.get("value", True) is not True:
                raise self.fail(where, f"field '{name}': '{op}' takes no value")
        elif "value" not in node:
            raise self.fail(where, f"field '{name}': '{op}' needs a value")
        self.sources.add(spec.source)
        column = f'b."{name}"'
        value = node.get("value")
        if op == "is_null":
            return f"{column} IS NULL"
        if op == "is_not_null":
            return f"{column} IS NOT NULL"
        if spec.kind == LIST:
            return self.list_op(name, spec, op, value, column, where)
        if spec.kind == TIME:
            return self.time_op(name, op, value, column, where)
        if op in ("in", "not_in"):
            values = self.values(name, spec, value, where, many=True)
            marks = ", ".join(self.bind(v) for v in values)
            if op == "in":
                return f"{column} IN ({marks})"
            return f"({column} IS NULL OR {column} NOT IN ({marks}))"
        if op == "between":
            if not isinstance(value, list) or len(value) != 2:
                raise self.fail(where, f"field '{name}': 'between' needs [low, high]")
            low, high = (self.scalar(name, spec, v, where) for v in value)
            if low > high:
                raise self.fail(where, f"field '{name}': between {low} and {high} is empty")
            return f"{column} BETWEEN {self.bind(low)} AND {self.bind(high)}"
        scalar = self.scalar(name, spec, value, where)
        if op == "ne":
            return f"{column} IS DISTINCT FROM {self.bind(scalar)}"
        sql_op = {"eq": "=", "gt": ">", "gte": ">=", "lt": "<", "lte": "<="}[op]
        return f"{column} {sql_op} {self.bind(scalar)}"

    def scalar(self, name: str, spec: Field, value: Any, where: str, kind: str | None = None):
        kind = kind or spec.kind
        if kind == NUMBER:
            if isinstance(value, bool) or not isinstance(value, int | float) or (
                    isinstance(value, float) and not math.isfinite(value)):
                raise self.fail(where, f"field '{name}' needs a number, got {value!r}")
            return value
        if kind == BOOL:
            if not isinstance(value, bool):
                raise self.fail(where, f"field '{name}' needs true or false, got {value!r}")
            return value
        if not isinstance(value, str):
            raise self.fail(where, f"field '{name}' needs text, got {value!r}")
        if spec.values is not None and value not in spec.values:
            raise self.fail(where, f"field '{name}' has no value {value!r}; allowed: "
                                   f"{', '.join(spec.values)}")
        return value

    def values(self, name: str, spec: Field, value: Any, where: str, *, many: bool,
               kind: str | None = None) -> list:
        if not isinstance(value, list) or not value:
            raise self.fail(where, f"field '{name}' needs a non-empty list of values")
        return [self.scalar(name, spec, v, where, kind) for v in value]

    def list_op(self, name: str, spec: Field, op: str, value: Any, column: str,
                where: str) -> str:
        if op == "is_empty":
            return f"coalesce(len({column}), 0) = 0"
        if op == "is_not_empty":
            return f"coalesce(len({column}), 0) > 0"
        if op == "contains":
            item = self.scalar(name, spec, value, where, kind=spec.item)
            return f"coalesce(list_contains({column}, {self.bind(item)}), false)"
        items = self.values(name, spec, value, where, many=True, kind=spec.item)
        function = "list_has_any" if op == "contains_any" else "list_has_all"
        cast = "DOUBLE[]" if spec.item == NUMBER else "VARCHAR[]"
        return f"coalesce({function}({column}, CAST({self.bind(items)} AS {cast})), false)"

    def time_op(self, name: str, op: str, value: Any, column: str, where: str) -> str:
        if op in ("within_days", "older_than_days"):
            if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                raise self.fail(where, f"field '{name}': '{op}' needs a number of days >= 0")
            micros = self.bind(round(value * 86_400_000_000))
            cutoff = f"(as_of() - to_microseconds(CAST({micros} AS BIGINT)))"
            return f"{column} >= {cutoff}" if op == "within_days" else f"{column} < {cutoff}"
        try:
            instant = parse_instant(str(value))
        except ValueError:
            raise self.fail(where, f"field '{name}': '{op}' needs an ISO-8601 instant, got "
                                   f"{value!r}") from None
        mark = self.bind(instant.isoformat())
        sql_op = "<" if op == "before" else ">"
        return f"{column} {sql_op} CAST({mark} AS TIMESTAMPTZ)"

    def item(self, kind: str, value: Any, where: str) -> str:
        self.sources.add("fan_asset_status")
        if kind == "asset_status":
            if not isinstance(value, dict) or set(value) != {"media_id", "in"}:
                raise self.fail(where, "asset_status needs {media_id: <id>, in: [statuses]}")
            media_id = self.media_id(value["media_id"], where)
            statuses = value["in"]
            if not isinstance(statuses, list) or not statuses or any(
                    s not in ASSET_STATUSES for s in statuses):
                raise self.fail(where, f"asset_status 'in' takes a list of "
                                       f"{', '.join(ASSET_STATUSES)}; got {statuses!r}")
            marks = ", ".join(self.bind(s) for s in statuses)
            return (f"coalesce((SELECT s.status FROM marts.fan_asset_status AS s "
                    f"WHERE s.creator_id = b.creator_id AND s.fan_id = b.fan_id "
                    f"AND s.media_id = {self.bind(media_id)}), 'never_sent') IN ({marks})")
        media_id = self.media_id(value, where)
        exists = (f"EXISTS (SELECT 1 FROM marts.fan_asset_status AS s "
                  f"WHERE s.creator_id = b.creator_id AND s.fan_id = b.fan_id "
                  f"AND s.media_id = {self.bind(media_id)} AND s.status = 'bought')")
        return exists if kind == "has_bought" else f"NOT {exists}"

    def media_id(self, value: Any, where: str) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise self.fail(where, f"a vault media id is a positive integer, got {value!r}")
        return value


def compile_segment(raw: Any, index: int = 0) -> Segment:
    if not isinstance(raw, dict):
        raise SegmentError(f"segment #{index + 1}: expected a mapping with name and where")
    name = raw.get("name")
    if not isinstance(name, str) or not NAME.fullmatch(name):
        raise SegmentError(f"segment #{index + 1}: name {name!r} must match {NAME.pattern} "
                           "(it names an asset and a table)")
    extra = set(raw) - SEGMENT_KEYS
    if extra:
        raise SegmentError(f"segment '{name}': unknown keys {sorted(extra)} "
                           f"(allowed: {', '.join(sorted(SEGMENT_KEYS))})")
    if "where" not in raw:
        raise SegmentError(f"segment '{name}': no 'where' (a condition or a list of them)")
    description = raw.get("description") or ""
    if not isinstance(description, str):
        raise SegmentError(f"segment '{name}': description must be text")
    include_expired = raw.get("include_expired", False)
    if not isinstance(include_expired, bool):
        raise SegmentError(f"segment '{name}': include_expired must be true or false")
    compiler = _Compiler(name)
    condition = compiler.node(raw["where"], "where")
    return Segment(name=name, description=description.strip(), where=raw["where"],
                   condition=condition, params=tuple(compiler.params),
                   sources=frozenset(compiler.sources), include_expired=include_expired)


def parse_segments(data: Any, origin: str = "segments.yaml") -> list[Segment]:
    if data is None:
        return []
    if not isinstance(data, dict) or set(data) - {"segments"}:
        raise SegmentError(f"{origin}: expected a mapping with one key, 'segments'")
    items = data.get("segments") or []
    if not isinstance(items, list):
        raise SegmentError(f"{origin}: 'segments' must be a list")
    segments = [compile_segment(raw, i) for i, raw in enumerate(items)]
    seen: set[str] = set()
    for segment in segments:
        if segment.name in seen:
            raise SegmentError(f"segment '{segment.name}': defined twice in {origin}")
        seen.add(segment.name)
    return segments


def segments_path(path: Path | str | None = None) -> Path:
    """`path`, else OFHQ_SEGMENTS_PATH, else segments.yaml at the project root."""
    import os

    return Path(path or os.environ.get("OFHQ_SEGMENTS_PATH") or DEFAULT_PATH)


def load_segments(path: Path | str | None = None) -> list[Segment]:
    """The segments of a YAML file (none when it does not exist)."""
    file = segments_path(path)
    if not file.exists():
        return []
    try:
        data = yaml.safe_load(file.read_text())
    except yaml.YAMLError as exc:
        raise SegmentError(f"{file}: not valid YAML: {exc}") from None
    return parse_segments(data, str(file))


def find_segment(name: str, path: Path | str | None = None) -> Segment:
    segments = load_segments(path)
    for segment in segments:
        if segment.name == name:
            return segment
    known = ", ".join(s.name for s in segments) or "none"
    raise SegmentError(f"no segment '{name}' in {segments_path(path)} (defined: {known})")


# The columns of a membership row: who he is, why he is in, and what to send him.
MEMBER_COLUMNS = (
    "username", "name", "stage", "temperature", "spend_tier", "price_range", "buyer_type",
    "lifetime_spend_cents", "probability_alive", "expected_spend_90d_cents",
    "recommended_media_id", "recommended_media_type", "suggested_price_cents",
    "recommendation_reason",
)


def member_query(segment: Segment) -> tuple[str, list]:
    """The SELECT of the segment's members over `segments.base` (sql/segments/base.sql)."""
    columns = ", ".join(f'b."{c}"' for c in MEMBER_COLUMNS)
    sql = (
        f"SELECT b.creator_id, b.fan_id, CAST(? AS VARCHAR) AS segment, {columns}, "
        f"CAST(? AS VARCHAR) AS definition_hash, as_of() AS as_of "
        f"FROM segments.base AS b WHERE {segment.condition} ORDER BY b.fan_id"
    )
    return sql, [segment.name, segment.definition_hash, *segment.params]
