"""A snapshot of the asset graph (keys, groups, partitions, kinds, checks, dependencies), so that a
change to the graph is seen in review. After an intended change, refresh it with
`WI_UPDATE_SNAPSHOT=1 .venv/bin/python -m pytest wi_pipeline_tests/defs/test_asset_graph_snapshot.py`
and commit the file with the change."""

import json
import os
from pathlib import Path

from wi_pipeline.definitions import defs

SNAPSHOT = Path(__file__).resolve().parents[1] / "snapshots" / "asset_graph.json"


def asset_graph() -> list[dict]:
    graph = defs.resolve_asset_graph()
    checks: dict[str, list[str]] = {}
    for key in graph.asset_check_keys:
        checks.setdefault(key.asset_key.to_user_string(), []).append(key.name)
    out = []
    for node in sorted(graph.asset_nodes, key=lambda n: n.key.to_user_string()):
        key = node.key.to_user_string()
        out.append(
            {
                "key": key,
                "group": node.group_name,
                "partitions": type(node.partitions_def).__name__ if node.partitions_def else None,
                "partition_keys": (
                    sorted(node.partitions_def.get_partition_keys())
                    if node.partitions_def
                    else None
                ),
                "kinds": sorted(node.kinds),
                "checks": sorted(checks.get(key, [])),
                "deps": sorted(k.to_user_string() for k in node.parent_keys),
                "automation": node.automation_condition is not None,
            }
        )
    return out


def test_the_asset_graph_matches_its_snapshot():
    now = asset_graph()
    if os.environ.get("WI_UPDATE_SNAPSHOT"):
        SNAPSHOT.write_text(json.dumps(now, indent=1) + "\n", encoding="utf-8")
    stored = {a["key"]: a for a in json.loads(SNAPSHOT.read_text(encoding="utf-8"))}
    current = {a["key"]: a for a in now}
    added, removed = sorted(current.keys() - stored.keys()), sorted(stored.keys() - current.keys())
    changed = sorted(k for k in current.keys() & stored.keys() if current[k] != stored[k])
    assert not (added or removed or changed), (
        f"the asset graph changed: added {added}, removed {removed}, changed {changed}; if intended, refresh "
        "the snapshot (see this module's docstring) and commit it"
    )
