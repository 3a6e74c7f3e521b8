"""Stored tables read by person: the rows a plain filtered read gives, in stored order."""

import pandas as pd
import pyarrow.dataset as ds

from wi_pipeline.lib.datasets import PartitionedWriter, open_table, read_frame, rows_with_keys

JOBS = pd.DataFrame(
    {
        "RINPERSOONS": pd.array(["R", "R", "S", "R", None, "R", "R", "R"], dtype="string"),
        "RINPERSOON": pd.array(
            [
                "000000003",
                "000000001",
                "000000001",
                "000000002",
                "000000001",
                "000000009",
                "000000003",
                "o'neil",
            ],
            dtype="string",
        ),
        "SBASISLOON": [100.0, 200.0, 300.0, None, 500.0, 600.0, 700.0, 800.0],
        "SDATUMAANVANGIKO": pd.to_datetime(
            [
                "2019-01-01",
                "2020-03-01",
                "2019-05-01",
                "2021-01-01",
                "2019-02-01",
                "2020-01-01",
                "2019-01-01",
                "2020-01-01",
            ]
        ),
    }
)
COLUMNS = ["RINPERSOON", "SBASISLOON", "SDATUMAANVANGIKO"]


def stored(tmp_path, frame: pd.DataFrame) -> ds.Dataset:
    """Written by year, two rows per row group: the rows of a person lie in several files."""
    writer = PartitionedWriter(tmp_path / "spolisbus")
    for start in range(0, len(frame), 2):
        part = frame.iloc[start : start + 2]
        writer.write(part, part["SDATUMAANVANGIKO"].dt.year)
    writer.close()
    return open_table(tmp_path / "spolisbus")


def test_the_rows_of_these_persons_with_a_reliable_key_come_back_in_stored_order(tmp_path):
    table = stored(tmp_path, JOBS)
    keys = ["000000001", "000000003", "000000003", None, "o'neil"]
    found = rows_with_keys(table, COLUMNS, keys, [("RINPERSOONS", "RINPERSOON")], "R")
    plain = read_frame(
        table,
        COLUMNS,
        (ds.field("RINPERSOONS") == "R") & ds.field("RINPERSOON").isin(keys[:2] + keys[4:]),
    )
    pd.testing.assert_frame_equal(found, plain)
    assert found["SBASISLOON"].tolist() == [100.0, 700.0, 200.0, 800.0]  # 2019 first, then 2020
    assert found["RINPERSOON"].dtype == "string"  # as stored, not as DuckDB gives it

    # a frame gives the same rows as the stored table, in its own order
    in_memory = rows_with_keys(JOBS, COLUMNS, keys, [("RINPERSOONS", "RINPERSOON")], "R")
    assert in_memory["SBASISLOON"].tolist() == [100.0, 200.0, 700.0, 800.0]


def test_a_row_is_kept_when_any_of_its_key_pairs_matches_and_a_key_alone_needs_no_kind(tmp_path):
    links = pd.DataFrame(
        {
            "RINPERSOON": ["c1", "c2", "c3", "c4"],
            "RINPERSOONSMa": ["R", "R", "S", None],
            "RINPERSOONMa": ["m1", "m2", "m1", "m1"],
            "RINPERSOONSpa": ["R", "R", "R", "R"],
            "RINPERSOONpa": ["f1", "f1", "f2", "f3"],
        }
    )
    parents = [("RINPERSOONSMa", "RINPERSOONMa"), ("RINPERSOONSpa", "RINPERSOONpa")]
    of_m1 = rows_with_keys(links, ["RINPERSOON"], ["m1"], parents, "R")
    assert of_m1["RINPERSOON"].tolist() == ["c1"]  # c3 and c4: m1 without a reliable key
    of_m1_or_f2 = rows_with_keys(links, ["RINPERSOON"], ["m1", "f2"], parents, "R")
    assert of_m1_or_f2["RINPERSOON"].tolist() == ["c1", "c3"]
    children = rows_with_keys(links, ["RINPERSOONMa"], ["c2", "c4"], [(None, "RINPERSOON")])
    assert children["RINPERSOONMa"].tolist() == ["m2", "m1"]
    assert rows_with_keys(links, ["RINPERSOON"], [], parents, "R").empty


def test_rows_go_to_the_folder_of_their_year_in_order_and_a_missing_year_to_its_own(tmp_path):
    frame = pd.DataFrame({"n": [1, 2, 3, 4, 5]})
    writer = PartitionedWriter(tmp_path / "t")
    writer.write(frame, pd.Series([2019, None, 2020, 2019, 2019], dtype="Int64"))
    writer.write(frame.iloc[:1], pd.Series([2020], dtype="Int64"))  # a chunk of one year
    writer.close()
    folders = sorted(p.parent.name for p in (tmp_path / "t").rglob("*.parquet"))
    assert folders == ["year=2019", "year=2020", "year=__HIVE_DEFAULT_PARTITION__"]
    stored = read_frame(open_table(tmp_path / "t"), ["n", "year"])
    by_year = stored.groupby("year", dropna=False)["n"].apply(list).to_dict()
    assert {k if k == k else None: v for k, v in by_year.items()} == {
        2019: [1, 4, 5],
        2020: [3, 1],
        None: [2],
    }


def test_collections_inside_a_frozen_heap_skip_what_lived_before_and_still_free_new_cycles():
    import gc
    import weakref

    from wi_pipeline.lib.datasets import heap_frozen, release_memory

    class Chunk:
        pass

    before = gc.get_freeze_count()
    with heap_frozen():
        assert gc.get_freeze_count() > before
        chunk = Chunk()
        chunk.me = chunk  # a cycle: only a collection frees it
        alive = weakref.ref(chunk)
        del chunk
        release_memory()
        assert alive() is None
    assert gc.get_freeze_count() == before
    try:
        with heap_frozen():
            raise RuntimeError("a refused chunk")
    except RuntimeError:
        pass
    assert gc.get_freeze_count() == before
