import json
import os
import time

from dagster import DagsterInstance, build_sensor_context

from wi_pipeline.defs.automation.sensors import landing_folder_sensor
from wi_pipeline.defs.resources import LandingFolder
from wi_pipeline.lib.arrivals import plan_arrivals
from wi_pipeline_tests.helpers import synthetic_bsns, write_extract

B = synthetic_bsns(2)
HEADER = "BSN;DOSSIERNUMMER;REGELING;INGANGSDATUM;EINDDATUM"


def tick(landing, cursor=None, instance=None):
    ctx = build_sensor_context(cursor=cursor, instance=instance or DagsterInstance.ephemeral(),
                               resources={"landing": LandingFolder(path=str(landing))})
    result = landing_folder_sensor(ctx)
    return result.run_requests or [], result.cursor, ctx


def test_new_file_once_complete_gives_one_request_and_never_twice(tmp_path):
    write_extract(tmp_path, "GM0599", "bijstand", [HEADER, f"{B[0]};1;PW;01-01-2020;"])
    runs, cursor, _ = tick(tmp_path)
    assert runs == []  # first sight: size not yet known to be stable
    runs, cursor, _ = tick(tmp_path, cursor)
    assert [r.partition_key for r in runs] == ["GM0599"]
    first_key = runs[0].run_key
    runs, cursor, _ = tick(tmp_path, cursor)
    assert runs == []  # the same file again
    # the cursor is plain JSON stored by the daemon: after a restart, a new context with it gives nothing
    runs, _, _ = tick(tmp_path, json.dumps(json.loads(cursor)), instance=DagsterInstance.ephemeral())
    assert runs == []
    assert first_key.startswith("GM0599-")


def test_growing_file_waits_until_complete(tmp_path):
    path = write_extract(tmp_path, "GM0363", "wmo", ["BSN;VOORZIENING;INGANGSDATUM;EINDDATUM"])
    _, cursor, _ = tick(tmp_path)
    with open(path, "a") as f:  # still being copied
        f.write(f"{B[0]};BEGELEIDING;01-01-2020;\n")
    os.utime(path, ns=(time.time_ns(), time.time_ns() + 1_000_000))
    runs, cursor, _ = tick(tmp_path, cursor)
    assert runs == []
    runs, cursor, _ = tick(tmp_path, cursor)
    assert [r.partition_key for r in runs] == ["GM0363"]


def test_done_marker_completes_at_once_and_two_municipalities_give_two_requests(tmp_path):
    for gm in ("GM0599", "GM0344"):
        p = write_extract(tmp_path, gm, "bijstand", [HEADER, f"{B[0]};1;PW;01-01-2020;"])
        (p.parent / (p.name + ".done")).touch()
    runs, _, _ = tick(tmp_path)
    assert sorted(r.partition_key for r in runs) == ["GM0344", "GM0599"]
    assert len({r.run_key for r in runs}) == 2


def test_changed_file_gives_a_new_request(tmp_path):
    p = write_extract(tmp_path, "GM0599", "bijstand", [HEADER, f"{B[0]};1;PW;01-01-2020;"])
    (p.parent / (p.name + ".done")).touch()
    runs, cursor, _ = tick(tmp_path)
    write_extract(tmp_path, "GM0599", "bijstand", [HEADER, f"{B[1]};1;PW;01-01-2021;"], name="20250215.csv")
    (p.parent / "20250215.csv.done").touch()
    runs2, _, _ = tick(tmp_path, cursor)
    assert len(runs2) == 1 and runs2[0].run_key != runs[0].run_key


def test_malformed_file_is_named_for_the_tick_log_and_still_requested(tmp_path):
    p = write_extract(tmp_path, "GM0518", "bijstand", ["BSN,REGELING", "1,PW"])
    (p.parent / (p.name + ".done")).touch()
    plan = plan_arrivals(tmp_path, {}, {})
    assert len(plan.problems) == 1 and "GM0518/bijstand/20250115.csv: missing column(s)" in plan.problems[0]
    runs, _, _ = tick(tmp_path)
    assert [r.partition_key for r in runs] == ["GM0518"]  # its ingestion then fails for GM0518 alone
