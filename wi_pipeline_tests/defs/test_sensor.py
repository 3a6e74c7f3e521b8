import json
import os
import time

from dagster import AssetKey, AssetMaterialization, DagsterInstance, build_sensor_context

from wi_pipeline.defs.automation.sensors import landing_folder_sensor
from wi_pipeline.defs.resources import LandingFolder, PseudonymisationKey
from wi_pipeline.lib import arrivals
from wi_pipeline.lib.arrivals import file_sha256, plan_arrivals
from wi_pipeline_tests.helpers import synthetic_bsns, write_extract

B = synthetic_bsns(2)
HEADER = "BSN;DOSSIERNUMMER;REGELING;INGANGSDATUM;EINDDATUM"


def tick(landing, cursor=None, instance=None):
    ctx = build_sensor_context(
        cursor=cursor,
        instance=instance or DagsterInstance.ephemeral(),
        resources={
            "landing": LandingFolder(path=str(landing)),
            "pseudonym_key": PseudonymisationKey(),
        },
    )
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
    runs, _, _ = tick(
        tmp_path, json.dumps(json.loads(cursor)), instance=DagsterInstance.ephemeral()
    )
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
    write_extract(
        tmp_path, "GM0599", "bijstand", [HEADER, f"{B[1]};1;PW;01-01-2021;"], name="20250215.csv"
    )
    (p.parent / "20250215.csv.done").touch()
    runs2, _, _ = tick(tmp_path, cursor)
    assert len(runs2) == 1 and runs2[0].run_key != runs[0].run_key


def test_malformed_file_is_named_for_the_tick_log_and_still_requested(tmp_path):
    p = write_extract(tmp_path, "GM0518", "bijstand", ["BSN,REGELING", "1,PW"])
    (p.parent / (p.name + ".done")).touch()
    plan = plan_arrivals(tmp_path, {}, {})
    assert (
        len(plan.problems) == 1
        and "GM0518/bijstand/20250115.csv: missing column(s)" in plan.problems[0]
    )
    runs, _, _ = tick(tmp_path)
    assert [r.partition_key for r in runs] == [
        "GM0518"
    ]  # its ingestion then fails for GM0518 alone


def _complete(path):
    (path.parent / (path.name + ".done")).touch()
    return path


def _ingested(instance, path, gemeente="GM0599", register="bijstand"):
    """What a successful run leaves: the sha256 of the extract behind the register partition."""
    instance.report_runless_asset_event(
        AssetMaterialization(
            AssetKey(["registers", register]),
            partition=gemeente,
            metadata={"extract_sha256": file_sha256(path)},
        )
    )


def test_going_back_to_an_earlier_extract_reruns_with_a_key_never_used(tmp_path):
    """Dagster drops a run key it has seen before, so A -> B -> A must not reuse A's key."""
    instance = DagsterInstance.ephemeral()
    content_a, content_b = (
        [HEADER, f"{B[0]};1;PW;01-01-2020;"],
        [HEADER, f"{B[1]};1;PW;01-01-2021;"],
    )
    keys = []
    a = _complete(write_extract(tmp_path, "GM0599", "bijstand", content_a))
    runs, cursor, _ = tick(tmp_path, instance=instance)
    keys += [r.run_key for r in runs]
    _ingested(instance, a)
    b = _complete(write_extract(tmp_path, "GM0599", "bijstand", content_b, name="20250215.csv"))
    runs, cursor, _ = tick(tmp_path, cursor, instance)
    keys += [r.run_key for r in runs]
    _ingested(instance, b)
    # B is withdrawn: A is the current extract again
    b.unlink()
    (b.parent / (b.name + ".done")).unlink()
    runs, cursor, _ = tick(tmp_path, cursor, instance)
    keys += [r.run_key for r in runs]
    assert tick(tmp_path, cursor, instance)[0] == []  # the same set on the next tick starts nothing
    _ingested(instance, a)
    # and B's content arrives once more, as a new file
    _complete(write_extract(tmp_path, "GM0599", "bijstand", content_b, name="20250315.csv"))
    runs, cursor, _ = tick(tmp_path, cursor, instance)
    keys += [r.run_key for r in runs]
    assert len(keys) == 4 and len(set(keys)) == 4
    assert all(k.startswith("GM0599-") for k in keys)


def test_an_extract_ingested_by_hand_in_between_does_not_hide_a_return_to_the_requested_one(
    tmp_path,
):
    instance = DagsterInstance.ephemeral()
    a = _complete(
        write_extract(tmp_path, "GM0599", "bijstand", [HEADER, f"{B[0]};1;PW;01-01-2020;"])
    )
    runs, cursor, _ = tick(tmp_path, instance=instance)
    assert len(runs) == 1
    _ingested(instance, a)
    runs, cursor, _ = tick(tmp_path, cursor, instance)
    assert runs == []
    # someone ingests another file from the UI, then removes it: A must be ingested again
    b = write_extract(
        tmp_path, "GM0599", "bijstand", [HEADER, f"{B[1]};1;PW;01-01-2021;"], name="20250215.csv"
    )
    _ingested(instance, b)
    b.unlink()
    runs, _, _ = tick(tmp_path, cursor, instance)
    assert [r.partition_key for r in runs] == ["GM0599"]


def test_unchanged_extracts_are_not_hashed_again_on_every_tick(tmp_path, monkeypatch):
    hashed = []
    real = arrivals.file_sha256
    monkeypatch.setattr(arrivals, "file_sha256", lambda path: hashed.append(path) or real(path))
    p = _complete(
        write_extract(tmp_path, "GM0599", "bijstand", [HEADER, f"{B[0]};1;PW;01-01-2020;"])
    )
    _complete(write_extract(tmp_path, "GM0344", "wmo", ["BSN;VOORZIENING;INGANGSDATUM;EINDDATUM"]))
    _, cursor, _ = tick(tmp_path)
    assert len(hashed) == 2
    for _ in range(3):
        _, cursor, _ = tick(tmp_path, cursor)
    assert len(hashed) == 2
    # a file rewritten in place (new size and time) is hashed again, and gives a new request
    write_extract(
        tmp_path,
        "GM0599",
        "bijstand",
        [HEADER, f"{B[1]};1;PW;01-01-2021;", f"{B[0]};1;PW;01-01-2020;"],
    )
    os.utime(p, ns=(time.time_ns(), time.time_ns() + 1_000_000))
    runs, cursor, _ = tick(tmp_path, cursor)
    assert len(hashed) == 3 and hashed[-1] == p
    assert [r.partition_key for r in runs] == ["GM0599"]


def test_deliveries_outside_the_naming_contract_are_named_in_the_tick_log_with_the_expected_name(
    tmp_path,
):
    import logging

    _complete(
        write_extract(
            tmp_path,
            "GM0599",
            "bijstand",
            [HEADER, f"{B[0]};1;PW;01-01-2020;"],
            name="20250215.csv",
        )
    )
    for name in (
        "20250215_v2.csv",
        "bijstand_2025-02-15.csv",
        "20250301.csv.part",
        ".20250301.csv.tmp",
    ):
        write_extract(tmp_path, "GM0599", "bijstand", [HEADER], name=name)
    write_extract(
        tmp_path, "GM0363", "bijstnd", [HEADER], name="20250110.csv"
    )  # a misspelt register folder
    logged = []

    class Keep(logging.Handler):
        def emit(self, record):
            logged.append(record.getMessage())

    ctx = build_sensor_context(
        instance=DagsterInstance.ephemeral(),
        resources={
            "landing": LandingFolder(path=str(tmp_path)),
            "pseudonym_key": PseudonymisationKey(),
        },
    )
    ctx.log.addHandler(Keep())
    result = landing_folder_sensor(ctx)
    stray = [m for m in logged if "outside the naming contract" in m]
    assert len(stray) == 3, (
        logged
    )  # the transfer still running and the hidden file are not deliveries
    v2 = next(m for m in stray if "20250215_v2.csv" in m)
    assert (
        "expected 20250215.csv (20250215.csv is there already: to deliver a new version of it" in v2
    )
    assert any("bijstand_2025-02-15.csv" in m and "expected 20250215.csv" in m for m in stray)
    assert any(
        "GM0363/bijstnd/20250110.csv" in m
        and f"expected {tmp_path}/GM0363/bijstand/20250110.csv" in m
        for m in stray
    )
    assert [r.partition_key for r in result.run_requests] == [
        "GM0599"
    ]  # the contract's file still runs


def test_a_cut_off_or_cr_only_extract_is_named_in_the_tick_log_before_the_run(tmp_path):
    cut = _complete(write_extract(tmp_path, "GM0599", "bijstand", []))
    cut.write_bytes(f"{HEADER}\n{B[0]};1;PW;01-01-2020".encode())
    cr = _complete(write_extract(tmp_path, "GM0344", "bijstand", []))
    cr.write_bytes(f"{HEADER}\r{B[0]};1;PW;01-01-2020;\r".encode())
    zipped = _complete(write_extract(tmp_path, "GM0363", "bijstand", []))
    zipped.write_bytes(b"PK\x03\x04" + bytes(range(256)))
    problems = plan_arrivals(tmp_path, {}, {}).problems
    assert any(str(cut) in p and "does not end with a line break" in p for p in problems)
    assert any(str(cr) in p and "bare carriage returns" in p for p in problems)
    assert any(str(zipped) in p and "zip archive" in p for p in problems)


def test_first_look_is_not_reported_as_a_size_still_changing(tmp_path):
    """Nothing has changed on the first look: the file is new, and only a change of size or time waits."""
    p = write_extract(tmp_path, "GM0599", "bijstand", [HEADER, f"{B[0]};1;PW;01-01-2020;"])
    first = plan_arrivals(tmp_path, {}, {})
    assert first.first_seen == [str(p)] and first.waiting == []
    with open(p, "a") as f:  # still being copied
        f.write(f"{B[1]};1;PW;01-01-2021;\n")
    os.utime(p, ns=(time.time_ns(), time.time_ns() + 1_000_000))
    second = plan_arrivals(tmp_path, first.seen, {})
    assert second.waiting == [str(p)] and second.first_seen == []
