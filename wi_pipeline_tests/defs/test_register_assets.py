"""A bad extract fails its asset with one clear message and leaves the last good output as it was."""

import shutil

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pyreadstat
import pytest
from dagster import AssetKey, DagsterInstance, materialize

from wi_pipeline.defs.cbs.assets import cbs_assets
from wi_pipeline.defs.io import ParquetIOManager
from wi_pipeline.defs.registers.assets import register_assets
from wi_pipeline.defs.resources import LandingFolder, PseudonymisationKey
from wi_pipeline.lib.cbs_delivery import find_delivery
from wi_pipeline.lib.datasets import open_table
from wi_pipeline_tests.helpers import read_delivered, write_extract

GM = "GM0599"
BSN = "999993653"  # valid and in the synthetic range
HEADER = "BSN;DOSSIERNUMMER;REGELING;INGANGSDATUM;EINDDATUM"
BIJSTAND = next(a for a in register_assets if AssetKey(["registers", "bijstand"]) in a.keys)
SECMBUS = next(a for a in cbs_assets if AssetKey(["cbs", "secmbus"]) in a.keys)
KOPPELTABEL = next(a for a in cbs_assets if AssetKey(["cbs", "koppeltabel"]) in a.keys)


def resources(landing, warehouse) -> dict:
    return {
        "landing": LandingFolder(path=str(landing)),
        "pseudonym_key": PseudonymisationKey(),
        "io_manager": ParquetIOManager(base_dir=str(warehouse)),
    }


def run(asset, landing, warehouse, instance, partition=None):
    return materialize(
        [asset],
        resources=resources(landing, warehouse),
        instance=instance,
        partition_key=partition,
        raise_on_error=False,
    )


def failure_message(result) -> str:
    """The description the UI shows; the step must fail with a dagster Failure, not a raw exception."""
    [failure] = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    assert failure.event_specific_data.error.cls_name == "Failure"
    return failure.event_specific_data.user_failure_data.description


def check_results(result, name: str) -> list[bool]:
    return [
        e.event_specific_data.passed
        for e in result.all_events
        if e.event_type_value == "ASSET_CHECK_EVALUATION"
        and e.event_specific_data.check_name == name
    ]


def everything_logged(instance, run_id) -> str:
    return "\n".join(repr(rec) for rec in instance.all_logs(run_id))


@pytest.fixture
def landing(synthetic_landing, tmp_path):
    """The synthetic extract of one register and the CBS folder, in a landing folder of the test's own."""
    source, _ = synthetic_landing
    own = tmp_path / "landing"
    shutil.copytree(source / GM / "bijstand", own / GM / "bijstand")
    shutil.copytree(source / "CBS", own / "CBS")
    return own


BAD_EXTRACTS = {
    "missing column": (
        ["BSN;REGELING;INGANGSDATUM;EINDDATUM", f"{BSN};PW;01-02-2020;"],
        "missing column(s) DOSSIERNUMMER",
    ),
    "wrong delimiter": (
        [HEADER.replace(";", "\t"), f"{BSN}\tD1\tPW\t01-02-2020\t"],
        "separated by tabs",
    ),
    "no header row": ([f"{BSN};D1;PW;01-02-2020;", f"{BSN};D2;PW;01-03-2020;"], "not a header"),
    "duplicate column": (
        [HEADER + ";BSN", f"{BSN};D1;PW;01-02-2020;;{BSN}"],
        "BSN appear more than once",
    ),
    "dates in another format": (
        [HEADER] + [f"{BSN};D{i};PW;2020-02-{i + 1:02d};" for i in range(20)],
        "expected date format dd-mm-yyyy",
    ),
}


@pytest.mark.parametrize("lines, message", BAD_EXTRACTS.values(), ids=BAD_EXTRACTS.keys())
def test_a_malformed_extract_fails_readably_and_keeps_the_last_good_output(
    landing, tmp_path, lines, message
):
    warehouse, instance = tmp_path / "warehouse", DagsterInstance.ephemeral()
    assert run(BIJSTAND, landing, warehouse, instance, GM).success
    stored = {p: p.read_bytes() for p in (warehouse / "registers").rglob("*.parquet")}
    assert {p.relative_to(warehouse).as_posix() for p in stored} == {
        f"registers/bijstand/{GM}.parquet",
        f"registers/bijstand_quarantine/{GM}.parquet",
    }

    write_extract(landing, GM, "bijstand", lines, name="20250201.csv")  # newer: the current extract
    failed = run(BIJSTAND, landing, warehouse, instance, GM)

    assert not failed.success
    text = failure_message(failed)
    assert f"bijstand {GM}" in text and "20250201.csv" in text and message in text
    assert "previous output is kept" in text
    assert check_results(failed, "extract_readable") == [False]
    assert not failed.get_asset_materialization_events()
    assert {p: p.read_bytes() for p in (warehouse / "registers").rglob("*.parquet")} == stored
    assert BSN not in everything_logged(instance, failed.run_id)


def test_demo_key_refusal_is_a_clear_failure_and_keeps_the_last_good_output(landing, tmp_path):
    warehouse, instance = tmp_path / "warehouse", DagsterInstance.ephemeral()
    assert run(BIJSTAND, landing, warehouse, instance, GM).success
    stored = {p: p.read_bytes() for p in (warehouse / "registers").rglob("*.parquet")}

    write_extract(
        landing, GM, "bijstand", [HEADER, "111222333;D1;PW;01-02-2020;"], name="20250201.csv"
    )
    failed = run(BIJSTAND, landing, warehouse, instance, GM)

    assert not failed.success
    text = failure_message(failed)
    assert f"bijstand {GM}" in text and "20250201.csv" in text and "WI_PSEUDONYM_KEY" in text
    assert {p: p.read_bytes() for p in (warehouse / "registers").rglob("*.parquet")} == stored
    assert "111222333" not in everything_logged(instance, failed.run_id)


def test_a_damaged_cbs_table_fails_readably_and_keeps_the_last_good_output(landing, tmp_path):
    warehouse, instance = tmp_path / "warehouse", DagsterInstance.ephemeral()
    first = run(SECMBUS, landing, warehouse, instance)
    assert first.success and check_results(first, "extract_readable") == [True]
    stored = {p: p.read_bytes() for p in (warehouse / "cbs").rglob("*.parquet")}
    assert len(stored) == 2

    [delivered] = find_delivery(landing, "SECMBUS").files
    delivered.path.write_bytes(b"not an SPSS file")
    failed = run(SECMBUS, landing, warehouse, instance)

    assert not failed.success
    text = failure_message(failed)
    assert "CBS SECMBUS" in text and "SECMBUS2024V1.sav: not a readable SPSS file" in text
    assert check_results(failed, "extract_readable") == [False]
    assert {p: p.read_bytes() for p in (warehouse / "cbs").rglob("*.parquet")} == stored


ROWS = [f"{BSN};ZAAK-{i:04d};PW;17-03-2021;" for i in range(30)]
RAW_EXTRACTS = {  # faults that only show in the bytes: line endings and the end of the file
    "cut off": (
        "\n".join([HEADER, *ROWS]).encode()[:-1],
        "the last line (line 31) does not end with a line break",
    ),
    "CR only": ("\r".join([HEADER, *ROWS, ""]).encode(), "bare carriage returns (CR)"),
    "header joined": (
        "\n".join([HEADER + ROWS[0], *ROWS[1:], ""]).encode(),
        "not the header of these rows",
    ),
}


@pytest.mark.parametrize("raw, message", RAW_EXTRACTS.values(), ids=RAW_EXTRACTS.keys())
def test_a_cut_off_or_run_together_extract_is_refused_with_no_value_in_any_event(
    landing, tmp_path, raw, message
):
    warehouse, instance = tmp_path / "warehouse", DagsterInstance.ephemeral()
    assert run(BIJSTAND, landing, warehouse, instance, GM).success
    stored = {p: p.read_bytes() for p in (warehouse / "registers").rglob("*.parquet")}

    write_extract(landing, GM, "bijstand", [], name="20250201.csv").write_bytes(raw)
    failed = run(BIJSTAND, landing, warehouse, instance, GM)

    assert not failed.success and check_results(failed, "extract_readable") == [False]
    text = failure_message(failed)
    assert "20250201.csv" in text and message in text and "previous output is kept" in text
    assert {p: p.read_bytes() for p in (warehouse / "registers").rglob("*.parquet")} == stored
    logged = everything_logged(
        instance, failed.run_id
    )  # the event log, the check's metadata included
    assert BSN not in logged and "ZAAK-" not in logged and "17-03-2021" not in logged


def test_a_bsn_in_a_code_column_and_a_huge_value_are_quarantined_with_small_masked_events(
    landing, tmp_path
):
    from wi_pipeline.lib.privacy import PREVIEW_CELL_MAX_CHARS

    warehouse, instance = tmp_path / "warehouse", DagsterInstance.ephemeral()
    huge = "X" * 1_000_000
    lines = [HEADER, f"{BSN};D1;{BSN};01-02-2020;", f"{BSN};D2;{huge};01-02-2020;", *ROWS]
    write_extract(landing, GM, "bijstand", lines, name="20250201.csv")
    result = run(BIJSTAND, landing, warehouse, instance, GM)

    assert result.success  # two rows quarantined, not the whole extract refused
    assert check_results(result, "no_identifiers") == [True, True]
    [quarantine] = [
        e.materialization
        for e in result.get_asset_materialization_events()
        if e.asset_key == AssetKey(["registers", "bijstand_quarantine"])
    ]
    assert quarantine.metadata["dagster/row_count"].value == 2
    preview = quarantine.metadata["preview"].value
    assert "<redacted>" in preview and BSN not in preview
    assert "X" * (PREVIEW_CELL_MAX_CHARS + 1) not in preview
    assert len(everything_logged(instance, result.run_id)) < 100_000


def stored_rows(warehouse, table: str) -> int:
    return open_table(warehouse / "cbs" / table).count_rows()  # a folder of parquet files


def test_a_cbs_table_with_typed_dates_is_stored_whole_and_a_high_quarantine_share_keeps_the_last_output(
    landing, tmp_path
):
    """The re-export with date-typed AANVSECM/EINDSECM was stored with 0 rows; now it gives the text
    form's rows, also as a newer SPSS version with SPSS dates. A table with over a quarter of its rows
    quarantined is refused and the last kept."""
    warehouse, instance = tmp_path / "warehouse", DagsterInstance.ephemeral()
    text = pa.Table.from_pandas(read_delivered(landing, "SECMBUS"), preserve_index=False)
    assert run(SECMBUS, landing, warehouse, instance).success
    rows = stored_rows(warehouse, "secmbus")

    typed = text
    for col in ("AANVSECM", "EINDSECM"):
        dates = pc.strptime(
            pc.if_else(pc.equal(text[col], ""), None, text[col]), format="%Y%m%d", unit="s"
        )
        typed = typed.set_column(typed.schema.get_field_index(col), col, dates.cast(pa.date32()))
    pyreadstat.write_sav(typed.to_pandas(), landing / "CBS" / "SECMBUS" / "SECMBUS2024V2.sav")
    again = run(SECMBUS, landing, warehouse, instance)
    assert again.success and stored_rows(warehouse, "secmbus") == rows > 1000
    shutil.rmtree(landing / "CBS" / "SECMBUS")  # the older single parquet file, typed
    path = landing / "CBS" / "SECMBUS.parquet"
    pq.write_table(typed, path)
    again = run(SECMBUS, landing, warehouse, instance)
    assert again.success and stored_rows(warehouse, "secmbus") == rows
    stored = {p: p.read_bytes() for p in (warehouse / "cbs").rglob("*.parquet")}

    broken = (
        np.arange(text.num_rows) % 10 < 3
    )  # 30% of person numbers lost a digit: quarantined, not refused
    rin = pc.if_else(
        pa.array(broken), pc.utf8_slice_codeunits(text["RINPERSOON"], 1), text["RINPERSOON"]
    )
    pq.write_table(
        text.set_column(text.schema.get_field_index("RINPERSOON"), "RINPERSOON", rin), path
    )
    failed = run(SECMBUS, landing, warehouse, instance)
    assert not failed.success and check_results(failed, "gx_suite") == [False]
    assert "cbs/secmbus:gx_suite" in failure_message(failed)
    assert {p: p.read_bytes() for p in (warehouse / "cbs").rglob("*.parquet")} == stored


def test_one_bsn_with_two_person_keys_no_longer_refuses_the_key_file_and_is_counted(
    landing, tmp_path
):
    warehouse, instance = tmp_path / "warehouse", DagsterInstance.ephemeral()
    [delivered] = find_delivery(landing, "KOPPELTABEL").files
    table = pa.Table.from_pandas(read_delivered(landing, "KOPPELTABEL"), preserve_index=False)
    twin = table.slice(0, 1).set_column(
        table.schema.get_field_index("RINPERSOON"), "RINPERSOON", pa.array(["999999999"])
    )  # the same BSN, another person key
    pyreadstat.write_sav(pa.concat_tables([table, twin]).to_pandas(), delivered.path)
    result = run(KOPPELTABEL, landing, warehouse, instance)
    assert result.success and check_results(result, "gx_suite") == [True]
    [meta] = [
        e.materialization.metadata
        for e in result.get_asset_materialization_events()
        if e.asset_key == AssetKey(["cbs", "koppeltabel"])
    ]
    assert (
        meta["ambiguous_key_persons"].value == 1
        and meta["rows_accepted"].value == table.num_rows + 1
    )
