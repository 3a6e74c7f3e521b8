"""The pipeline's privacy promises, tested by trying to break them."""

import shutil

import pytest
from dagster import DagsterInstance, EnvVar

from wi_pipeline.definitions import make_definitions
from wi_pipeline.defs.io import ParquetIOManager
from wi_pipeline.defs.resources import LandingFolder, PseudonymisationKey
from wi_pipeline.lib.ingest import ingest_register
from wi_pipeline.lib.layout import REGISTERS
from wi_pipeline.lib.pseudonymise import PseudonymKey
from wi_pipeline_tests.helpers import synthetic_bsns, write_extract

SECRET_A = "wi-test-secret-A-" + "x" * 32
SECRET_B = "wi-test-secret-B-" + "y" * 32


def defs_with(landing, warehouse, key: PseudonymisationKey):
    return make_definitions(
        {
            "landing": LandingFolder(path=str(landing)),
            "pseudonym_key": key,
            "io_manager": ParquetIOManager(base_dir=str(warehouse)),
        }
    )


def everything_logged(instance, run_id) -> str:
    """All a run leaves behind in the instance: events, metadata, errors and its run config."""
    text = [repr(rec) for rec in instance.all_logs(run_id)]
    text.append(repr(instance.get_run_by_id(run_id).run_config))
    return "\n".join(text)


def test_a_key_change_between_runs_is_refused_and_the_message_holds_no_key(
    synthetic_landing, tmp_path
):
    landing, _ = synthetic_landing
    instance = DagsterInstance.ephemeral()
    first = defs_with(landing, tmp_path / "wh", PseudonymisationKey(secret=SECRET_A))
    assert first.resolve_job_def("cbs_tables").execute_in_process(instance=instance).success
    second = defs_with(
        landing, tmp_path / "wh", PseudonymisationKey(secret=SECRET_B)
    )  # the key was changed
    result = second.resolve_job_def("municipality").execute_in_process(
        instance=instance, partition_key="GM0599", raise_on_error=False
    )
    assert not result.success
    # refused before anything is written: every step that would write pseudonyms fails on the warehouse's key
    failures = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    assert failures
    for failure in failures:
        message = str(failure.event_specific_data.error.to_string())
        assert "was built with key" in message and "nothing was written" in message
        assert (
            PseudonymKey(SECRET_A).fingerprint[:12] in message
            and PseudonymKey(SECRET_B).fingerprint[:12] in message
        )
    logged = everything_logged(instance, result.run_id)
    assert SECRET_A not in logged and SECRET_B not in logged


def test_the_key_never_reaches_logs_metadata_run_config_or_errors(
    synthetic_landing, tmp_path, monkeypatch
):
    landing, _ = synthetic_landing
    own = tmp_path / "landing"
    shutil.copytree(landing, own)
    monkeypatch.setenv("WI_PSEUDONYM_KEY", SECRET_A)
    defs = defs_with(own, tmp_path / "wh", PseudonymisationKey(secret=EnvVar("WI_PSEUDONYM_KEY")))
    instance = DagsterInstance.ephemeral()
    runs = [defs.resolve_job_def("cbs_tables").execute_in_process(instance=instance)]
    # a failing run too: error messages are where secrets usually leak
    (own / "GM0363" / "wmo" / "20250115.csv").write_text("BSN,VOORZIENING\n1,x\n")
    runs.append(
        defs.resolve_job_def("municipality").execute_in_process(
            instance=instance, partition_key="GM0363", raise_on_error=False
        )
    )
    assert runs[0].success and not runs[1].success
    for run in runs:
        logged = everything_logged(instance, run.run_id)
        assert SECRET_A not in logged
    # the key was in use: its fingerprint, not the key, identifies it in the metadata
    assert PseudonymKey(SECRET_A).fingerprint in everything_logged(instance, runs[0].run_id)
    for path in (tmp_path / "wh").rglob("*.parquet"):
        assert SECRET_A.encode() not in path.read_bytes(), path


def test_a_bsn_hidden_in_free_text_never_leaves_ingestion(tmp_path):
    b = synthetic_bsns(2)
    path = write_extract(
        tmp_path,
        "GM0599",
        "reintegratie",
        [
            "BSN;VOORZIENING_CODE;VOORZIENING_OMSCHRIJVING;INGANGSDATUM;EINDDATUM",
            f"{b[0]};RTM-102;klant {b[1]} belde, cursus gestart;01-02-2020;01-08-2020",
            f"{b[1]};XX;bsn {b[0]} onbekende code;01-02-2020;",
        ],
    )
    result = ingest_register(path, REGISTERS["reintegratie"], "GM0599", PseudonymKey(SECRET_A))
    for frame in (result.accepted, result.quarantine):
        text = frame.astype(str).to_csv()
        assert b[0] not in text and b[1] not in text and "klant" not in text


def test_key_errors_do_not_quote_the_key():
    short = "not-long-enough-secret"
    with pytest.raises(Exception) as err:
        PseudonymKey(short)
    assert short not in str(err.value) and short not in repr(err.value)
