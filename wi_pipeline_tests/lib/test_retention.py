from datetime import datetime, timedelta, timezone

from wi_pipeline.lib.arrivals import file_sha256
from wi_pipeline.lib.retention import plan_purge, purge
from wi_pipeline_tests.helpers import write_extract

NOW = datetime(2026, 11, 21, tzinfo=timezone.utc)


def test_only_ingested_files_past_retention_are_purged(tmp_path):
    old = write_extract(tmp_path, "GM0599", "bijstand", ["a"], name="20250101.csv")
    recent = write_extract(tmp_path, "GM0599", "bijstand", ["b"], name="20250201.csv")
    new = write_extract(tmp_path, "GM0599", "bijstand", ["c"], name="20250301.csv")
    (old.parent / (old.name + ".done")).touch()
    ingested = {
        file_sha256(old): NOW - timedelta(days=40),
        file_sha256(recent): NOW - timedelta(days=5),
    }
    decisions = {d.path.name: d for d in plan_purge(tmp_path, ingested, NOW, retention_days=30)}
    assert decisions["20250101.csv"].purge
    assert not decisions["20250201.csv"].purge and "kept until" in decisions["20250201.csv"].reason
    assert (
        not decisions["20250301.csv"].purge
        and decisions["20250301.csv"].reason == "not ingested yet"
    )
    assert purge(list(decisions.values())) == 1
    assert not old.exists() and not (old.parent / (old.name + ".done")).exists()
    assert recent.exists() and new.exists()
