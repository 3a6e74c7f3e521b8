"""CBS tables read in chunks, never whole (issue 15, item 2): the same stored table, quarantine and
counts as one read; refusals on whole-table counts; the suites judge every row; linkage reads only
the key-file rows of the municipality's persons."""

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from wi_pipeline.lib import cbs
from wi_pipeline.lib.cbs import AMBIGUOUS_PSEUDONYMS, cbs_path, type_cbs_table
from wi_pipeline.lib.datasets import open_table, read_frame
from wi_pipeline.lib.ingest import ExtractError
from wi_pipeline.lib.layout import CBS_TABLES
from wi_pipeline.lib.linkage import ambiguous_pseudonyms, key_file_rows, link_registers
from wi_pipeline.lib.pseudonymise import DEMO_KEY, PseudonymKey
from wi_pipeline.lib.quality import run_suite, run_suite_on_table
from wi_pipeline_tests.helpers import ingest_cbs_table, synthetic_bsns

KEY = PseudonymKey(DEMO_KEY)
IDS = ["RINPERSOON", "pseudo_id"]


def write_table(landing, table: str, columns: dict) -> None:
    path = cbs_path(landing, table)
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table({k: pa.array(v, pa.string()) for k, v in columns.items()}), path)


def jobs(n: int = 60) -> dict:
    """SPOLISBUS over three years, with faults spread over the rows (so over the chunks)."""
    rng = np.random.default_rng(3)
    years = rng.choice([2019, 2020, 2021], n)
    cols = {
        "RINPERSOONS": ["R"] * n,
        "RINPERSOON": [f"{i % 23:09d}" for i in range(n)],
        "IKVID": [str(i % 4) for i in range(n)],
        "SBEID": ["000000042"] * n,
        "SDATUMAANVANGIKO": [f"{y}0{1 + i % 9}01" for i, y in enumerate(years)],
        "SDATUMEINDEIKO": [f"{y}0{1 + i % 9}28" for i, y in enumerate(years)],
        "SBASISLOON": [str(round(1000 + 37.5 * i, 2)) for i in range(n)],
        "SBASISUREN": [str(20 + i % 20) for i in range(n)],
        "SCONTRACTSOORT": ["O", "B"] * (n // 2),
        "SPOLISDIENSTVERBAND": ["1", "2", "2"] * (n // 3),
    }
    cols["SBASISLOON"][5] = "-150"  # a correction: quarantined
    cols["RINPERSOON"][17] = "12345"  # a person number that lost its zeros
    cols["SDATUMEINDEIKO"][33] = "2020-13-01"  # no date
    cols["SBASISUREN"][48] = "-8"
    return cols


def test_a_national_shaped_table_larger_than_one_chunk_gives_the_same_result_as_a_single_read(
    tmp_path,
):
    write_table(tmp_path, "SPOLISBUS", jobs())
    whole = ingest_cbs_table(tmp_path, "SPOLISBUS", chunk_rows=10_000)
    parts = ingest_cbs_table(tmp_path, "SPOLISBUS", chunk_rows=7)
    pd.testing.assert_frame_equal(parts[0], whole[0])
    pd.testing.assert_frame_equal(parts[1], whole[1])
    assert parts[2] == whole[2] == 60 == len(parts[0]) + len(parts[1]) and len(parts[1]) == 4
    # and as the table typed whole in memory, the way it was read before; stored by year
    raw = pq.read_table(cbs_path(tmp_path, "SPOLISBUS")).to_pandas()
    accepted, quarantine = type_cbs_table(raw, CBS_TABLES["SPOLISBUS"])
    by_year = accepted.sort_values(
        "SDATUMAANVANGIKO", key=lambda d: d.dt.year, kind="stable"
    ).reset_index(drop=True)
    pd.testing.assert_frame_equal(parts[0], by_year)
    pd.testing.assert_frame_equal(parts[1], quarantine)
    stored = sorted(p.parent.name for p in (tmp_path / ".stored").glob("SPOLISBUS-*/*/*.parquet"))
    assert set(stored) == {"year=2019", "year=2020", "year=2021"}  # the panel filters on them


def test_the_key_file_read_in_chunks_quarantines_repeats_across_chunks_as_one_read_does(tmp_path):
    b = synthetic_bsns(30)
    bsn = [b[i % 25] for i in range(40)]  # rows 25-39 repeat rows 0-14, chunks apart
    rin = [f"{i % 25:09d}" for i in range(40)]
    rin[31] = "000000099"  # b[6] also maps to a second person number: ambiguous, not repeated
    bsn[12] = "999999999"  # fails the eleven-test, so row 37 repeats no accepted row
    write_table(tmp_path, "KOPPELTABEL", {"BSN": bsn, "RINPERSOONS": ["R"] * 40, "RINPERSOON": rin})
    whole = ingest_cbs_table(tmp_path, "KOPPELTABEL", KEY, chunk_rows=10_000)
    parts = ingest_cbs_table(tmp_path, "KOPPELTABEL", KEY, chunk_rows=7)
    pd.testing.assert_frame_equal(parts[0], whole[0])
    pd.testing.assert_frame_equal(parts[1], whole[1])
    raw = pq.read_table(cbs_path(tmp_path, "KOPPELTABEL")).to_pandas()
    accepted, quarantine = cbs.pseudonymise_key_file(raw, KEY, "test")
    pd.testing.assert_frame_equal(parts[0], accepted)
    pd.testing.assert_frame_equal(parts[1], quarantine)
    assert quarantine["reason"].value_counts().to_dict() == {
        "duplicate row": 13,
        "BSN fails the eleven-test": 1,
    }
    assert parts[0].attrs[AMBIGUOUS_PSEUDONYMS] == len(ambiguous_pseudonyms(accepted)) == 1
    assert parts[0].attrs["key_fingerprint"] == KEY.fingerprint


def secm_dates(good: int, bad: int) -> dict:
    n = good + bad
    return {
        "RINPERSOONS": ["R"] * n,
        "RINPERSOON": [f"{i:09d}" for i in range(n)],
        "AANVSECM": ["20200115"] * good + ["2020-01-15"] * bad,
        "EINDSECM": [""] * n,
        "SECM": ["11"] * n,
    }


def test_a_column_mostly_unparseable_is_judged_on_the_whole_table_not_per_chunk(tmp_path):
    write_table(tmp_path, "SECMBUS", secm_dates(good=20, bad=60))  # the first chunk is fine
    with pytest.raises(ExtractError, match="AANVSECM is not a date .* in 60 of 80 rows .*row 21"):
        cbs.ingest_cbs_table(tmp_path, "SECMBUS", tmp_path / "out", chunk_rows=20)
    assert not (tmp_path / "out").exists()  # nothing half-written stays
    bad_first = {k: v[60:] + v[:60] for k, v in secm_dates(good=60, bad=20).items()}
    write_table(tmp_path, "SECMBUS", bad_first)  # the first chunk alone would be refused
    staged = cbs.ingest_cbs_table(tmp_path, "SECMBUS", tmp_path / "out", chunk_rows=20)
    assert (staged.rows_accepted, len(staged.quarantine), staged.chunks) == (60, 20, 4)


def persons(n: int, twin: tuple[int, int]) -> pd.DataFrame:
    rin = [f"{i:09d}" for i in range(n)]
    rin[twin[1]] = rin[twin[0]]  # one person twice, in different chunks
    return pd.DataFrame(
        {
            "RINPERSOONS": ["R"] * n,
            "RINPERSOON": rin,
            "GBAGESLACHT": ["1", "2"] * (n // 2),
            "GBAGEBOORTEJAAR": [str(1950 + i) for i in range(n)],
            "GBAGEBOORTEMAAND": [str(1 + i % 12) for i in range(n)],
            "GBAGEBOORTEDAG": ["1"] * n,
            "GBAHERKOMSTGROEPERING": ["6030"] * n,
            "GBAGENERATIE": ["0"] * n,
        }
    )


def test_a_uniqueness_violation_split_across_two_chunks_is_caught(tmp_path):
    write_table(tmp_path, "GBAPERSOONTAB", persons(30, twin=(2, 25)).to_dict("list"))
    staged = cbs.ingest_cbs_table(tmp_path, "GBAPERSOONTAB", tmp_path / "out", chunk_rows=7)
    table = open_table(staged.folder)
    parts = run_suite_on_table(table, "cbs_gbapersoontab", identifier_columns=IDS, batch_rows=10)
    whole = run_suite(read_frame(table), "cbs_gbapersoontab", identifier_columns=IDS)
    assert parts.results == whole.results and parts.n_rows == whole.n_rows == 30
    [failed] = parts.failed()
    assert (failed.expectation, failed.unexpected_count) == (
        "expect_compound_columns_to_be_unique",
        2,
    )


def test_map_expectations_summed_over_batches_give_gx_counts_and_verdicts(tmp_path):
    """Nulls, values outside the set and a `mostly` in batches of 20 rows: GX's counts and percentages."""
    df = read_frame(
        open_table(
            cbs.ingest_cbs_table(
                write_secm(tmp_path), "SECMBUS", tmp_path / "out", chunk_rows=7
            ).folder
        )
    )
    table = open_table(tmp_path / "out")
    parts = run_suite_on_table(table, "cbs_secmbus", identifier_columns=IDS, batch_rows=20)
    assert parts.results == run_suite(df, "cbs_secmbus", identifier_columns=IDS).results
    assert {r.expectation for r in parts.failed()} == {
        "expect_column_values_to_not_be_null",
        "expect_column_pair_values_a_to_be_greater_than_b",
        "expect_column_values_to_be_in_set",
    }


def write_secm(landing):
    n = 50
    write_table(
        landing,
        "SECMBUS",
        {
            "RINPERSOONS": ["R"] * n,
            "RINPERSOON": [f"{i:09d}" for i in range(n)],
            "AANVSECM": ["20200101"] * 40 + [None] * 10,
            "EINDSECM": ["20191231", "20201231"] * 25,  # ends before it starts in half the rows
            "SECM": ["11"] * 45 + ["99"] * 5,  # 10% outside the codes, mostly 0.99
        },
    )
    return landing


def test_linkage_on_a_key_file_with_outsiders_gives_todays_result_reading_only_its_persons(
    tmp_path,
):
    b = synthetic_bsns(206)
    n = 206
    rin = [f"{i:09d}" for i in range(n)]
    kind = ["R"] * n
    bsn = list(b)
    bsn.append(b[1])  # a municipal person with a second person number: ambiguous
    rin.append("000000991")
    kind.append("R")
    bsn.append(b[150])  # an outsider with a second person number: ambiguous in the file too
    rin.append("000000992")
    kind.append("R")
    kind[2] = "S"  # a municipal person with an unreliable key
    write_table(tmp_path, "KOPPELTABEL", {"BSN": bsn, "RINPERSOONS": kind, "RINPERSOON": rin})
    stored = cbs.ingest_cbs_table(tmp_path, "KOPPELTABEL", tmp_path / "out", KEY, chunk_rows=50)
    key_file = open_table(stored.folder)
    pseudo = KEY.pseudonymise(pd.Series(list(b[:4]) + [synthetic_bsns(300)[299]], dtype="string"))
    spells = pd.DataFrame(
        {
            "gemeente": "GM0599",
            "pseudo_id": pseudo,  # four persons in the key file, one not
            "code": "PW",
            "start": pd.Timestamp("2020-01-01"),
            "end": pd.NaT,
            "extract_date": pd.Timestamp("2025-01-15"),
        }
    )
    registers = {"bijstand": spells, "wmo": spells.iloc[[0, 3]].reset_index(drop=True)}
    today = link_registers(registers, {}, read_frame(key_file))

    rows = key_file_rows(key_file, registers)
    assert len(rows) == 5 and set(rows["pseudo_id"]) == set(pseudo[:4])  # not 208 rows
    now = link_registers(registers, {}, rows, rows.attrs[AMBIGUOUS_PSEUDONYMS])
    pd.testing.assert_frame_equal(now.linked, today.linked)
    pd.testing.assert_frame_equal(now.quarantine, today.quarantine)
    pd.testing.assert_frame_equal(now.rates, today.rates)
    assert now.ambiguous_pseudonyms == today.ambiguous_pseudonyms == 2
    assert rows.attrs["key_fingerprint"] == KEY.fingerprint


def test_the_child_parent_check_on_stored_tables_counts_what_the_check_in_memory_counts(tmp_path):
    """KINDOUDERTAB against GBAPERSOONTAB joined out of core: the cases of the check in memory."""
    from wi_pipeline.lib.quality import (
        children_born_after_parents,
        children_born_after_parents_on_tables,
    )
    from wi_pipeline_tests.lib.test_cross_table_checks import PERSONS, links

    twice = pd.concat([PERSONS, PERSONS.iloc[[3]].assign(GBAGEBOORTEJAAR=1950)], ignore_index=True)
    s_twin = pd.concat(
        [PERSONS, PERSONS.iloc[[3]].assign(RINPERSOONS="S", GBAGEBOORTEJAAR=1950)],
        ignore_index=True,
    )
    cases = [
        (links("000000001", "000000002"), PERSONS),
        (links("000000004"), PERSONS),
        (
            links("---------", "000000002"),
            PERSONS.assign(GBAGEBOORTEJAAR=pd.array([1980, None, 2010, 2015], dtype="Int64")),
        ),
        (pd.concat([links("000000001")] * 999 + [links("000000004")], ignore_index=True), PERSONS),
        (links("000000004", kind="S"), PERSONS),
        (links("000000004"), s_twin),
        (links("000000004"), twice),  # a key given twice has no known birth date
    ]
    for i, (child_parent, persons) in enumerate(cases):
        for name, df in (("kindouder", child_parent), ("persons", persons)):
            (tmp_path / f"{name}{i}").mkdir()
            df.to_parquet(tmp_path / f"{name}{i}" / "part-0.parquet")
        stored = children_born_after_parents_on_tables(
            open_table(tmp_path / f"kindouder{i}"), open_table(tmp_path / f"persons{i}")
        )
        assert stored == children_born_after_parents(child_parent, persons), i


def test_an_expectation_a_table_in_parts_cannot_judge_fails_saying_so(tmp_path):
    """A mean over the whole table is not a sum of per-batch verdicts: it fails with the reason, and
    the row-by-row expectation beside it is still judged."""
    import json

    suite = {
        "name": "secm_mean",
        "expectations": [
            {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "SECM"}},
            {
                "type": "expect_column_mean_to_be_between",
                "kwargs": {"column": "RINPERSOONS", "min_value": 0, "max_value": 1},
            },
        ],
    }
    (tmp_path / "secm_mean.json").write_text(json.dumps(suite), encoding="utf-8")
    cbs.ingest_cbs_table(write_secm(tmp_path), "SECMBUS", tmp_path / "out", chunk_rows=7)
    result = run_suite_on_table(
        open_table(tmp_path / "out"), "secm_mean", suites_dir=tmp_path, batch_rows=20
    )
    not_null, mean = result.results
    assert not_null.success and not_null.note is None and not_null.unexpected_count == 0
    assert not mean.success and "cannot be judged on a table stored in parts" in mean.note
