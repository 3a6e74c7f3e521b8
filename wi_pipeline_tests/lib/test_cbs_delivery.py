"""The CBS landing contract as CBS delivers: which files make up a table, in which form, read in chunks."""

import datetime as dt
import json

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pyreadstat
import pytest

from wi_pipeline.lib.cbs import cbs_path
from wi_pipeline.lib.cbs_delivery import find_delivery, read_delivery_chunks
from wi_pipeline.lib.ingest import ExtractError
from wi_pipeline.lib.layout import CBS_TABLES
from wi_pipeline.lib.pseudonymise import DEMO_KEY, PseudonymKey
from wi_pipeline.lib.retention import plan_purge
from wi_pipeline_tests.helpers import ingest_cbs_table, synthetic_bsns

KEY = PseudonymKey(DEMO_KEY)


def jobs(n: int, year: int, first: int = 0) -> pd.DataFrame:
    """SPOLISBUS rows as CBS ships them: text codes and dates, an open end, a missing contract."""
    i = np.arange(first, first + n)
    return pd.DataFrame(
        {
            "RINPERSOONS": ["R"] * n,
            "RINPERSOON": [f"{k:09d}" for k in i],
            "IKVID": [str(k) for k in i],
            "SBEID": ["000000042"] * n,
            "SDATUMAANVANGIKO": [f"{year}{1 + k % 12:02d}01" for k in i],
            "SDATUMEINDEIKO": [f"{year}1231" if k % 3 else None for k in i],
            "SBASISLOON": [2500.5 + k if k % 5 else np.nan for k in i],
            "SBASISUREN": [150.0] * n,
            "SCONTRACTSOORT": ["O" if k % 4 else None for k in i],
            "SPOLISDIENSTVERBAND": ["1", "2"] * (n // 2) + ["1"] * (n % 2),
        }
    )


def sav(landing, table: str, name: str, df: pd.DataFrame, **stored):
    path = landing / "CBS" / table / name
    path.parent.mkdir(parents=True, exist_ok=True)
    pyreadstat.write_sav(df, path, **stored)
    return path


def parquet(path, df: pd.DataFrame):
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pandas(df, preserve_index=False), path)
    return path


def test_sav_csv_and_parquet_forms_give_the_same_stored_table(tmp_path):
    """Including the missing text values: SPSS stores them as empty strings, csv as empty fields."""
    df = jobs(40, 2019)
    sav(tmp_path / "sav", "SPOLISBUS", "SPOLISBUS2019V1.sav", df)
    # as SPSS saves by default (bytecode), and zlib-compressed, which pyreadstat reads
    sav(tmp_path / "sav_bytecode", "SPOLISBUS", "SPOLISBUS2019V1.sav", df, row_compress=True)
    sav(tmp_path / "zsav", "SPOLISBUS", "SPOLISBUS2019V1.zsav", df, compress=True)
    csv = tmp_path / "csv" / "CBS" / "SPOLISBUS" / "spolisbus2019v1.csv"
    csv.parent.mkdir(parents=True)
    df.to_csv(csv, sep=",", index=False)  # a comma-separated copy: the separator is sniffed
    parquet(tmp_path / "parquet" / "CBS" / "SPOLISBUS" / "SPOLISBUS2019V1.parquet", df)
    parquet(cbs_path(tmp_path / "legacy", "SPOLISBUS"), df)

    expected = ingest_cbs_table(tmp_path / "legacy", "SPOLISBUS")
    assert expected[0]["SCONTRACTSOORT"].isna().sum() == 10 and len(expected[1]) == 0
    for folder in ("sav", "sav_bytecode", "zsav", "csv", "parquet"):
        got = ingest_cbs_table(tmp_path / folder, "SPOLISBUS")
        [file] = find_delivery(tmp_path / folder, "SPOLISBUS").files
        form = folder if folder in ("csv", "parquet") else "sav"
        assert file.form == form
        pd.testing.assert_frame_equal(got[0], expected[0], obj=folder)
        pd.testing.assert_frame_equal(got[1], expected[1], obj=folder)
        assert got[2] == expected[2] == 40


def test_sav_rows_are_read_in_one_pass_and_pyreadstat_reads_only_what_that_reader_leaves(
    tmp_path, monkeypatch
):
    """pyreadstat reads a chunk by starting again at the top of the file; lib/spss.py reads the rows
    once. A zlib-compressed file or SPSS date columns are still read, by pyreadstat."""
    calls = []
    chunked = pyreadstat.read_file_in_chunks
    monkeypatch.setattr(
        pyreadstat, "read_file_in_chunks", lambda *a, **k: calls.append(a[1]) or chunked(*a, **k)
    )
    df = jobs(40, 2019)
    for folder, name, stored in [
        ("plain", "SPOLISBUS2019V1.sav", {}),
        ("bytecode", "SPOLISBUS2019V1.sav", {"row_compress": True}),
        ("zsav", "SPOLISBUS2019V1.zsav", {"compress": True}),
        ("dates", "SPOLISBUS2019V1.sav", {}),
    ]:
        rows = df
        if folder == "dates":
            rows = df.assign(SDATUMAANVANGIKO=pd.to_datetime(df["SDATUMAANVANGIKO"]).dt.date)
        sav(tmp_path / folder, "SPOLISBUS", name, rows, **stored)
        accepted, quarantine, rows_in = ingest_cbs_table(tmp_path / folder, "SPOLISBUS")
        assert (len(accepted), len(quarantine), rows_in) == (40, 0, 40), folder
    assert [p.split("/")[-4] for p in calls] == ["zsav", "dates"]


def test_an_empty_text_in_a_parquet_delivery_is_missing_as_in_the_sav_and_csv_forms(tmp_path):
    """A re-export may write a missing code or date as an empty string: it is not a code, and an
    empty end date is an open job, not an unreadable date."""
    df = jobs(40, 2019)
    parquet(cbs_path(tmp_path / "nulls", "SPOLISBUS"), df)
    blanks = df.assign(
        SCONTRACTSOORT=df["SCONTRACTSOORT"].fillna(""),
        SDATUMEINDEIKO=df["SDATUMEINDEIKO"].fillna(""),
    )
    parquet(tmp_path / "blanks" / "CBS" / "SPOLISBUS" / "SPOLISBUS2019V1.parquet", blanks)

    expected = ingest_cbs_table(tmp_path / "nulls", "SPOLISBUS")
    got = ingest_cbs_table(tmp_path / "blanks", "SPOLISBUS")
    assert got[0]["SCONTRACTSOORT"].isna().sum() == 10 and len(got[1]) == 0  # none quarantined
    assert got[0]["SDATUMEINDEIKO"].isna().sum() == expected[0]["SDATUMEINDEIKO"].isna().sum() > 0
    pd.testing.assert_frame_equal(got[0], expected[0])


def test_yearly_tables_stack_the_highest_version_of_each_year(tmp_path):
    sav(tmp_path, "SPOLISBUS", "SPOLISBUS2019V1.sav", jobs(3, 2019))
    sav(tmp_path, "SPOLISBUS", "SPOLISBUS2019V2.sav", jobs(5, 2019))
    sav(tmp_path, "SPOLISBUS", "SPOLISBUS 2020V1.sav", jobs(4, 2020, first=100))  # a space, as real
    delivery = find_delivery(tmp_path, "SPOLISBUS")
    assert [(f.path.name, f.year, f.version) for f in delivery.files] == [
        ("SPOLISBUS2019V2.sav", 2019, 2),
        ("SPOLISBUS 2020V1.sav", 2020, 1),
    ]
    accepted, _, rows_in = ingest_cbs_table(tmp_path, "SPOLISBUS")
    assert rows_in == 9 and accepted["SDATUMAANVANGIKO"].dt.year.tolist() == [2019] * 5 + [2020] * 4


def test_snapshot_tables_use_the_newest_year_only(tmp_path):
    persons = {
        "RINPERSOONS": ["R", "R"],
        "RINPERSOON": ["000000001", "000000002"],
        "GBAGESLACHT": ["1", "2"],
        "GBAGEBOORTEJAAR": ["1980", "1990"],
        "GBAGEBOORTEMAAND": ["01", "02"],
        "GBAGEBOORTEDAG": ["03", "04"],
        "GBAHERKOMSTGROEPERING": ["6030", "5022"],
        "GBAGENERATIE": ["0", "1"],
    }
    sav(tmp_path, "GBAPERSOONTAB", "GBAPERSOON2023TABV1.sav", pd.DataFrame(persons).head(1))
    sav(tmp_path, "GBAPERSOONTAB", "gbapersoon2024tabv1.sav", pd.DataFrame(persons))
    delivery = find_delivery(tmp_path, "GBAPERSOONTAB")
    assert [f.path.name for f in delivery.files] == ["gbapersoon2024tabv1.sav"]
    assert delivery.ignored == (
        ("GBAPERSOON2023TABV1.sav", "older year: GBAPERSOONTAB is a snapshot table, 2024 is used"),
    )
    assert ingest_cbs_table(tmp_path, "GBAPERSOONTAB")[2] == 2


def test_older_versions_copies_and_stray_files_are_listed_with_the_reason(tmp_path):
    sav(tmp_path, "SPOLISBUS", "SPOLISBUS2019V1.sav", jobs(3, 2019))
    chosen = sav(tmp_path, "SPOLISBUS", "SPOLISBUS2019V2.sav", jobs(5, 2019))
    sav(tmp_path, "SPOLISBUS", "SPOLISBUS2019V2 - kopie.sav", jobs(5, 2019))
    jobs(5, 2019).to_csv(chosen.with_suffix(".csv"), sep=";", index=False)
    (chosen.parent / "readme.txt").write_text("toelichting")
    parquet(cbs_path(tmp_path, "SPOLISBUS"), jobs(2, 2018))  # the older form beside the folder
    delivery = find_delivery(tmp_path, "SPOLISBUS")
    assert [f.path for f in delivery.files] == [chosen]
    reasons = dict(delivery.ignored)
    assert reasons == {
        "SPOLISBUS2019V1.sav": "older version: V2 is used for 2019",
        "SPOLISBUS2019V2 - kopie.sav": "name does not match SPOLISBUS{year}V{version}.sav or "
        "SPOLISBUS.sav (reference/cbs_deliveries.csv)",
        "SPOLISBUS2019V2.csv": "a .csv copy of SPOLISBUS2019V2.sav, which is read "
        "(preferred form: .sav > .parquet > .csv)",
        "readme.txt": "not a .sav, .csv or .parquet file",
        "SPOLISBUS.parquet": "the delivered files in CBS/SPOLISBUS/ are used",
    }
    meta = json.loads(json.dumps(delivery.metadata()))  # as the asset metadata holds it
    assert meta["files"] == [
        {
            "name": "CBS/SPOLISBUS/SPOLISBUS2019V2.sav",
            "year": 2019,
            "version": 2,
            "form": "sav",
            "sha256": delivery.files[0].sha256,
        }
    ]
    assert {"name": "readme.txt", "reason": reasons["readme.txt"]} in meta["ignored"]
    assert len(delivery.files[0].sha256) == 64


def test_the_key_file_with_and_without_a_year(tmp_path):
    bsn = synthetic_bsns(3)
    key = {"BSN": bsn, "RINPERSOONS": ["R"] * 3, "RINPERSOON": ["000000001", "000000002", "3"]}
    sav(tmp_path, "KOPPELTABEL", "KOPPELTABEL.sav", pd.DataFrame(key).head(2))
    first = find_delivery(tmp_path, "KOPPELTABEL")
    assert [(f.year, f.version) for f in first.files] == [(None, None)] and not first.ignored
    sav(tmp_path, "KOPPELTABEL", "KOPPELTABEL2024V1.sav", pd.DataFrame(key))
    delivery = find_delivery(tmp_path, "KOPPELTABEL")
    assert [f.path.name for f in delivery.files] == ["KOPPELTABEL2024V1.sav"]
    assert dict(delivery.ignored) == {
        "KOPPELTABEL.sav": "no year in its name, while files with a year are delivered"
    }
    accepted, quarantine, rows_in = ingest_cbs_table(tmp_path, "KOPPELTABEL", KEY)
    assert (rows_in, len(accepted)) == (3, 2) and quarantine["reason"].tolist() == [
        "RINPERSOON is not 9 digits"
    ]


def test_a_sav_with_numbers_and_spss_dates_gives_what_the_text_form_gives(tmp_path):
    """Person numbers and codes as numbers (leading zeros lost), dates as 20200115.0 and as SPSS
    DATE/DATETIME values: the same stored table."""
    n = 12
    text = pd.DataFrame(
        {
            "RINPERSOONS": ["R"] * n,
            "RINPERSOON": [f"{i:09d}" for i in range(1, n + 1)],
            "AANVSECM": [f"2020{m:02d}15" for m in range(1, n + 1)],
            "EINDSECM": ["20211231"] * (n - 1) + [None],
            "SECM": ["11", "22"] * (n // 2),
        }
    )
    sav(tmp_path / "text", "SECMBUS", "SECMBUS2024V1.sav", text)
    numbers = text.assign(
        RINPERSOON=np.arange(1, n + 1, dtype=float),
        AANVSECM=text["AANVSECM"].astype(float),
        EINDSECM=pd.to_numeric(text["EINDSECM"]),
        SECM=text["SECM"].astype(float),
    )
    sav(tmp_path / "numbers", "SECMBUS", "SECMBUS2024V1.sav", numbers)
    spss_dates = text.assign(
        AANVSECM=[dt.date(2020, m, 15) for m in range(1, n + 1)],  # SPSS DATE
        EINDSECM=[dt.datetime(2021, 12, 31, 0, 0)] * (n - 1) + [None],  # SPSS DATETIME
    )
    path = sav(tmp_path / "dates", "SECMBUS", "SECMBUS2024V1.sav", spss_dates)
    types = pyreadstat.read_sav(path, metadataonly=True)[1].original_variable_types
    assert types["AANVSECM"].startswith("DATE") and types["EINDSECM"].startswith("DATETIME")

    expected, _, _ = ingest_cbs_table(tmp_path / "text", "SECMBUS")
    assert expected.loc[0, "RINPERSOON"] == "000000001" and pd.isna(expected.loc[n - 1, "EINDSECM"])
    for form in ("numbers", "dates"):
        accepted, quarantine, rows_in = ingest_cbs_table(tmp_path / form, "SECMBUS")
        assert (rows_in, len(quarantine)) == (n, 0), form
        pd.testing.assert_frame_equal(accepted, expected, obj=form)


def test_a_sav_code_column_holding_spss_dates_is_refused_naming_table_and_column(tmp_path):
    df = pd.DataFrame(
        {
            "RINPERSOONS": ["R"],
            "RINPERSOON": ["000000001"],
            "AANVSECM": ["20200101"],
            "EINDSECM": [""],
            "SECM": [dt.date(2020, 1, 1)],
        }
    )
    sav(tmp_path, "SECMBUS", "SECMBUS2024V1.sav", df)
    with pytest.raises(ExtractError, match="CBS table SECMBUS: column SECM holds date values"):
        ingest_cbs_table(tmp_path, "SECMBUS")


def test_the_older_single_parquet_file_still_works_and_an_unusable_folder_leaves_it_in_use(
    tmp_path,
):
    parquet(cbs_path(tmp_path, "SPOLISBUS"), jobs(6, 2019))
    (tmp_path / "CBS" / "SPOLISBUS").mkdir()
    (tmp_path / "CBS" / "SPOLISBUS" / "SPOLIS_oud.sav").write_bytes(b"")
    delivery = find_delivery(tmp_path, "SPOLISBUS")
    assert [(f.path, f.year, f.version, f.form) for f in delivery.files] == [
        (cbs_path(tmp_path, "SPOLISBUS"), None, None, "parquet")
    ]
    assert [name for name, _ in delivery.ignored] == ["SPOLIS_oud.sav"]
    assert ingest_cbs_table(tmp_path, "SPOLISBUS")[2] == 6


def test_nothing_usable_is_one_clear_error_naming_what_was_found(tmp_path):
    folder = tmp_path / "CBS" / "ZVWZORGKOSTENTAB"
    folder.mkdir(parents=True)
    (folder / "ZVWZORGKOSTEN2019TAB.dta").write_bytes(b"stata")
    with pytest.raises(ExtractError) as err:
        find_delivery(tmp_path, "ZVWZORGKOSTENTAB")
    text = str(err.value)
    assert "CBS table ZVWZORGKOSTENTAB not found at" in text
    assert "ZVWZORGKOSTEN{year}TABV{version}.sav" in text
    assert "ZVWZORGKOSTEN2019TAB.dta: not a .sav, .csv or .parquet file" in text


def test_two_files_of_the_same_year_version_and_form_are_refused(tmp_path):
    sav(tmp_path, "SPOLISBUS", "SPOLISBUS2019V2.sav", jobs(2, 2019))
    sav(tmp_path, "SPOLISBUS", "spolisbus 2019V2.sav", jobs(3, 2019))
    with pytest.raises(ExtractError, match="are the same year and version in the same form"):
        find_delivery(tmp_path, "SPOLISBUS")


@pytest.mark.parametrize("form", ["sav", "csv", "parquet"])
def test_a_missing_column_names_the_file_and_the_column(tmp_path, form):
    df = jobs(4, 2019).drop(columns=["SBEID"])
    folder = tmp_path / "CBS" / "SPOLISBUS"
    folder.mkdir(parents=True)
    path = folder / f"SPOLISBUS2019V1.{form}"
    if form == "sav":
        pyreadstat.write_sav(df, path)
    elif form == "csv":
        df.to_csv(path, sep=";", index=False)
    else:
        parquet(path, df)
    with pytest.raises(
        ExtractError,
        match=f"CBS/SPOLISBUS/SPOLISBUS2019V1.{form}: missing column.s. SBEID in CBS table SPOLISBUS",
    ):
        ingest_cbs_table(tmp_path, "SPOLISBUS")


@pytest.mark.parametrize("form", ["sav", "csv", "parquet"])
def test_chunks_hold_only_the_columns_asked_and_together_the_whole_delivery(tmp_path, form):
    folder = tmp_path / "CBS" / "SPOLISBUS"
    folder.mkdir(parents=True)
    for year, n in ((2019, 7), (2020, 5)):
        df = jobs(n, year).rename(columns={"SBASISUREN": "sbasisuren"})  # case as some deliver it
        path = folder / f"SPOLISBUS{year}V1.{form}"
        if form == "sav":
            pyreadstat.write_sav(df, path)
        elif form == "csv":
            df.to_csv(path, sep=";", index=False)
        else:
            parquet(path, df)
    delivery = find_delivery(tmp_path, "SPOLISBUS")
    chunks = list(read_delivery_chunks(delivery, ["RINPERSOON", "SBASISUREN"], chunk_rows=3))
    assert [(f.year, len(df)) for f, df in chunks] == [
        (2019, 3),
        (2019, 3),
        (2019, 1),
        (2020, 3),
        (2020, 2),
    ]
    assert all(list(df.columns) == ["RINPERSOON", "SBASISUREN"] for _, df in chunks)
    whole = pd.concat([df for _, df in chunks], ignore_index=True)
    assert whole["RINPERSOON"].tolist() == [f"{k:09d}" for k in [*range(7), *range(5)]]


def test_every_cbs_table_has_a_delivery_rule_matching_the_names_cbs_gives(tmp_path):
    names = {
        "SPOLISBUS": "SPOLISBUS2019V2.sav",
        "GBAPERSOONTAB": "GBAPERSOON2023TABV1.sav",
        "KINDOUDERTAB": "KINDOUDER2024TABV1.sav",
        "GBAHUISHOUDENSBUS": "GBAHUISHOUDENS2024BUSV1.sav",
        "GBABURGERLIJKESTAATBUS": "GBABURGERLIJKESTAAT2024BUSV1.sav",
        "SECMBUS": "SECMBUS2024V1.sav",
        "ZVWZORGKOSTENTAB": "ZVWZORGKOSTEN2020TABV2.sav",
        "PROBSCHULDTAB": "PROBSCHULD2022TABV1.sav",
        "KOPPELTABEL": "KOPPELTABEL2024V1.sav",
    }
    assert set(names) == set(CBS_TABLES)
    for table, name in names.items():
        folder = tmp_path / "CBS" / table
        folder.mkdir(parents=True)
        (folder / name).write_bytes(b"")
        [file] = find_delivery(tmp_path, table).files
        assert file.path.name == name and file.form == "sav"
        digits = "".join(ch if ch.isdigit() else " " for ch in name).split()
        assert (file.year, file.version) == (int(digits[0]), int(digits[1])), name


def test_retention_purges_an_ingested_sav_file(tmp_path):
    path = sav(tmp_path, "SECMBUS", "SECMBUS2024V1.sav", pd.DataFrame({"A": ["x"]}))
    [file] = find_delivery(tmp_path, "SECMBUS").files
    now = pd.Timestamp("2026-12-02", tz="UTC").to_pydatetime()
    [decision] = plan_purge(tmp_path, {file.sha256: now - dt.timedelta(days=40)}, now, 30)
    assert decision.path == path and decision.purge
