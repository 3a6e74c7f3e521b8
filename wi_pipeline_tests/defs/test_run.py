"""`make run` writes synthetic data only into the project's own, completely empty landing folder."""

import os

import pytest

from wi_pipeline.run import LandingError, ensure_data, main
from wi_pipeline_tests.helpers import synthetic_bsns, write_extract


@pytest.fixture
def data(tmp_path, monkeypatch):
    """A project data folder of its own: landing and warehouse at their defaults inside it."""
    monkeypatch.setenv("WI_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    monkeypatch.delenv("WI_LANDING_DIR", raising=False)
    monkeypatch.delenv("WI_WAREHOUSE_DIR", raising=False)
    return tmp_path / "data"


def _files(folder):
    return sorted(p for p in folder.rglob("*") if p.is_file())


def test_empty_default_landing_gets_synthetic_data(data):
    message = ensure_data(data / "landing", seed=3, scale=0.002)
    assert "generated synthetic data" in message
    assert list((data / "landing").rglob("*.csv")) and list(
        (data / "landing" / "CBS").rglob("*.sav")
    )
    assert (data / "synthetic_truth.json").exists()


def test_extracts_present_are_used_as_they_are(data):
    write_extract(
        data / "landing",
        "GM0599",
        "bijstand",
        [
            "BSN;DOSSIERNUMMER;REGELING;INGANGSDATUM;EINDDATUM",
            f"{synthetic_bsns(1)[0]};1;PW;01-01-2020;",
        ],
    )
    before = _files(data / "landing")
    assert "extracts found" in ensure_data(data / "landing", seed=3, scale=0.002)
    assert _files(data / "landing") == before


def test_a_real_landing_folder_without_extracts_is_refused_untouched(
    data, tmp_path, monkeypatch, capsys
):
    real = tmp_path / "secure" / "landing"
    real.mkdir(parents=True)
    monkeypatch.setenv("WI_LANDING_DIR", str(real))
    with pytest.raises(LandingError, match="no register extracts") as err:
        ensure_data(real, seed=3, scale=0.002)
    assert "only into" in str(err.value)
    assert _files(real) == [] and not (data / "synthetic_truth.json").exists()
    assert main([]) != 0  # make run stops with the message, before any run
    assert "no register extracts" in capsys.readouterr().err
    assert _files(real) == []


def test_default_landing_holding_cbs_deliveries_only_is_refused_and_their_csv_copies_are_no_extracts(
    data,
):
    """A CBS folder with a .csv copy of a table is no register extract: no run on CBS tables only."""
    copy = data / "landing" / "CBS" / "PROBSCHULDTAB" / "PROBSCHULD2024TABV1.csv"
    copy.parent.mkdir(parents=True)
    copy.write_text("RINPERSOONS;RINPERSOON\n", encoding="utf-8")
    with pytest.raises(LandingError, match="1 other file"):
        ensure_data(data / "landing", seed=3, scale=0.002)
    assert _files(data / "landing") == [copy]


def test_default_landing_holding_cbs_tables_only_is_refused(data):
    cbs = data / "landing" / "CBS" / "GBAPERSOONTAB.parquet"
    cbs.parent.mkdir(parents=True)
    cbs.write_bytes(b"real CBS table")
    with pytest.raises(LandingError, match="1 other file"):
        ensure_data(data / "landing", seed=3, scale=0.002)
    assert _files(data / "landing") == [cbs] and cbs.read_bytes() == b"real CBS table"


def test_after_purge_it_explains_that_the_assets_are_stored_instead_of_generating(data):
    (data / "landing" / "GM0599" / "bijstand").mkdir(parents=True)  # purge leaves the folders
    stored = data / "warehouse" / "registers" / "bijstand" / "GM0599.parquet"
    stored.parent.mkdir(parents=True)
    stored.write_bytes(b"stored")
    with pytest.raises(LandingError, match="already stored") as err:
        ensure_data(data / "landing", seed=3, scale=0.002)
    assert "make purge" in str(err.value) and "make rebuild" in str(err.value)
    assert _files(data / "landing") == []


def test_a_step_names_its_municipality_as_people_say_it():
    from wi_pipeline.run import step_label

    assert step_label("municipality", "GM0518") == "municipality GM0518 Den Haag"
    assert step_label("g4_pooled", None) == "g4_pooled"


def test_the_cbs_tables_are_read_side_by_side_from_national_size_and_in_process_below(
    tmp_path, monkeypatch
):
    from wi_pipeline import run

    monkeypatch.delenv(run.STEP_PROCESSES_ENV_VAR, raising=False)
    table = tmp_path / "CBS" / "SPOLISBUS" / "SPOLISBUS2019V1.sav"
    table.parent.mkdir(parents=True)
    table.write_bytes(b"\0" * 1000)
    assert run.step_processes("cbs_tables", tmp_path) == 1  # the demo's size: in this process
    monkeypatch.setattr(run, "PARALLEL_FROM_BYTES", 1000)
    assert run.step_processes("cbs_tables", tmp_path) == (os.cpu_count() or 1)
    assert run.step_processes("municipality", tmp_path) == 1  # one partition's steps depend in turn
    monkeypatch.setenv(run.STEP_PROCESSES_ENV_VAR, "1")
    assert run.step_processes("cbs_tables", tmp_path) == 1
    monkeypatch.setenv(run.STEP_PROCESSES_ENV_VAR, "3")
    assert run.step_processes("cbs_tables", tmp_path / "nothing") == 3
    monkeypatch.setenv(run.STEP_PROCESSES_ENV_VAR, "two")
    with pytest.raises(ValueError, match="WI_STEP_PROCESSES='two': give a whole number"):
        run.step_processes("cbs_tables", tmp_path)
