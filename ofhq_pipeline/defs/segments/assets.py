"""Audience segments per creator one asset per segment of segments.yaml
(`segments/<name>`), built when the code location loads, and `marts/segment_members`, every
segment's members in one table for analysts.

The YAML is compiled at load time: a segment naming an unknown field, an operator its field does
not allow, or a bad value stops the code location from loading with an error naming the segment
and the field. Each materialization shows the member count and a preview (Markdown) in the UI;
`ofhq segments export NAME --format csv|json` exports the members for a mass message.
"""

import time
from pathlib import Path

import dagster as dg

from ofhq_pipeline.defs.models import asset_attributes
from ofhq_pipeline.registry import segment_model
from ofhq_pipeline.resources.lake import LakeResource
from ofhq_pipeline.resources.sync_settings import SyncSettings
from ofhq_pipeline.segments.members import build_members, build_segment_members, markdown_table
from ofhq_pipeline.segments.spec import Segment, load_segments, segments_path

SEGMENT_MEMBERS = "marts/segment_members"


def segment_asset(segment: Segment) -> dg.AssetsDefinition:
    model = segment_model(segment.name, "fan_asset_status" in segment.sources)
    description = (segment.description or f"Segment {segment.name}") + (
        f" (filters: {', '.join(segment.fields) or 'vault items'})"
    )
    attributes = asset_attributes(model.key, inputs=model.inputs, description=description)
    attributes["metadata"] = {
        **attributes["metadata"],
        "definition": dg.MetadataValue.json({"where": segment.where}),
        "definition_hash": segment.definition_hash,
    }

    @dg.asset(**attributes)
    def _asset(
        context: dg.AssetExecutionContext, lake: LakeResource, sync: SyncSettings
    ) -> dg.MaterializeResult:
        started = time.perf_counter()
        store = lake.lake()
        as_of = sync.resolve_as_of(context)
        membership = build_members(store, segment, context.partition_key, as_of=as_of,
                                   run_id=context.run_id)
        share = membership.members / membership.fans if membership.fans else 0.0
        return dg.MaterializeResult(metadata={
            "dagster/row_count": membership.members,
            "members": membership.members,
            "share_of_fans": round(share, 4),
            "preview": dg.MetadataValue.md(
                f"Top {len(membership.preview)} of {membership.members} by lifetime spend\n\n"
                + markdown_table(membership.preview)
            ),
            "sql_where": dg.MetadataValue.md(f"```sql\n{segment.condition}\n```"),
            "definition_hash": segment.definition_hash,
            "export": f"ofhq segments export {segment.name} --format csv|json",
            "as_of": dg.MetadataValue.timestamp(as_of),
            "path": dg.MetadataValue.path(str(membership.path)),
            "seconds": round(time.perf_counter() - started, 3),
        })

    _asset.__name__ = f"segments_{segment.name}"
    return _asset


def segment_members_asset(segments: list[Segment]) -> dg.AssetsDefinition:
    @dg.asset(**asset_attributes(
        SEGMENT_MEMBERS, inputs=tuple(segment_model(s.name).key for s in segments)))
    def segment_members(context: dg.AssetExecutionContext, lake: LakeResource):
        started = time.perf_counter()
        store = lake.lake()
        path, rows = build_segment_members(store, segments, context.partition_key,
                                           context.run_id)
        return dg.MaterializeResult(metadata={
            "dagster/row_count": rows,
            "segments": dg.MetadataValue.json([s.name for s in segments]),
            "path": dg.MetadataValue.path(str(path)),
            "seconds": round(time.perf_counter() - started, 3),
        })

    return segment_members


def build_segment_assets(path: Path | str | None = None) -> list[dg.AssetsDefinition]:
    """One asset per segment of the YAML (OFHQ_SEGMENTS_PATH, else segments.yaml), plus
    marts/segment_members; raises SegmentError for a definition that cannot compile."""
    segments = load_segments(segments_path(path))
    return [*(segment_asset(s) for s in segments), segment_members_asset(segments)]


segment_assets = build_segment_assets()
