"""The one-pass SPSS reader gives what pyreadstat gives, for every way a system file stores its rows."""

import numpy as np
import pandas as pd
import pyarrow as pa
import pyreadstat
import pytest

from wi_pipeline.lib.spss import SavError, group_starts, read_layout, read_sav_chunks
from wi_pipeline.synthetic.sav import SavWriter


def mixed(n: int) -> pd.DataFrame:
    """Numbers that bytecode compression codes (whole, -99 to 151) and stores (fractions, large,
    negative), missing numbers, and texts of several widths: codes, person numbers, dates, empty,
    leading spaces, non-ASCII and a text with a space inside."""
    i = np.arange(n)
    return pd.DataFrame(
        {
            "RINPERSOONS": np.where(i % 17 == 0, "B", "R"),
            "RINPERSOON": [f"{k * 7919 % 10**9:09d}" for k in i],
            "SDATUMAANVANGIKO": [f"2019{1 + k % 12:02d}01" for k in i],
            "SBASISLOON": np.where(i % 5 == 0, np.nan, 2500.5 + i * 13.25),
            "SBASISUREN": (i % 260 - 100).astype(float),
            "CODE": np.where(i % 3 == 0, "", np.where(i % 3 == 1, " 7", "11")),
            "NAAM": [f"Zoë {k}" if k % 4 else "Ünal van der Berg-Smit" for k in i],
            "BIG": -(10.0 ** (i % 12)),
        }
    )


def pyreadstat_columns(path, columns):
    data, _ = pyreadstat.read_sav(str(path), usecols=columns, output_format="dict")
    return {c: pa.array(v, from_pandas=True).to_pylist() for c, v in data.items()}


def ours(path, columns, chunk_rows):
    chunks = list(read_sav_chunks(path, columns, chunk_rows))
    assert all(len(next(iter(c.values()))) <= chunk_rows for c in chunks)
    return {c: [v for chunk in chunks for v in chunk[c].to_pylist()] for c in columns}


@pytest.mark.parametrize("row_compress", [False, True], ids=["uncompressed", "bytecode"])
@pytest.mark.parametrize("chunk_rows", [1, 7, 64, 10_000])
def test_rows_are_what_pyreadstat_reads(tmp_path, row_compress, chunk_rows):
    df = mixed(203)
    path = tmp_path / "t.sav"
    pyreadstat.write_sav(df, path, row_compress=row_compress)
    layout = read_layout(path)
    assert layout.compression == int(row_compress) and layout.why_not(list(df)) is None
    columns = ["NAAM", "RINPERSOON", "SBASISLOON", "CODE", "SBASISUREN", "BIG", "RINPERSOONS"]
    expected = pyreadstat_columns(path, columns)
    assert expected["SBASISLOON"].count(None) == 41 and "" in expected["CODE"]
    assert ours(path, columns, chunk_rows) == expected


@pytest.mark.parametrize("compressed", [True, False], ids=["bytecode", "uncompressed"])
def test_the_projects_own_writer_with_long_names_reads_back(tmp_path, compressed):
    """Its chunks end inside a group of codes (50 rows of 13 units, written 20 at a time)."""
    path = tmp_path / "w.sav"
    df = mixed(50).rename(columns={"SBASISLOON": "SBASISLOON_MET_LANGE_NAAM"})
    schema = pa.Schema.from_pandas(df, preserve_index=False)
    writer = SavWriter(path, schema, compressed=compressed)
    for start in range(0, 50, 20):
        writer.write(pa.Table.from_pandas(df.iloc[start : start + 20], preserve_index=False))
    writer.close()
    assert read_layout(path).names == list(df) and read_layout(path).compression == compressed
    assert ours(path, list(df), 13) == pyreadstat_columns(path, list(df))


def test_declared_missing_numbers_are_missing_as_pyreadstat_takes_them(tmp_path):
    df = pd.DataFrame({"x": [1.0, 9.0, 95.0, 3.0, np.nan, 99.0, 100.0]})
    path = tmp_path / "m.sav"
    pyreadstat.write_sav(df, path, missing_ranges={"x": [9.0, {"lo": 90.0, "hi": 99.0}]})
    assert ours(path, ["x"], 3) == pyreadstat_columns(path, ["x"])
    assert ours(path, ["x"], 3)["x"] == [1.0, None, None, 3.0, None, None, 100.0]


def test_what_this_reader_leaves_to_pyreadstat_says_why(tmp_path):
    df = pd.DataFrame({"x": [1.0], "s": ["NA"]})
    pyreadstat.write_sav(df, tmp_path / "z.zsav", compress=True)
    assert "zlib" in read_layout(tmp_path / "z.zsav").why_not(["x"])
    pyreadstat.write_sav(df, tmp_path / "m.sav", missing_ranges={"s": ["NA"]})
    assert read_layout(tmp_path / "m.sav").why_not(["x"]) is None
    assert "s: declared missing texts" in read_layout(tmp_path / "m.sav").why_not(["s"])
    pyreadstat.write_sav(pd.DataFrame({"s": ["x" * 300]}), tmp_path / "long.sav")
    assert "very long texts" in read_layout(tmp_path / "long.sav").why_not(["s"])


@pytest.mark.parametrize("row_compress", [False, True], ids=["uncompressed", "bytecode"])
def test_a_cut_off_file_is_an_error_not_fewer_rows(tmp_path, row_compress):
    path = tmp_path / "t.sav"
    pyreadstat.write_sav(mixed(300), path, row_compress=row_compress)
    data = path.read_bytes()
    start = read_layout(path).data_start
    cut = tmp_path / "cut.sav"
    cut.write_bytes(data[: start + (len(data) - start) // 2 + 3])
    with pytest.raises(SavError, match="cut.sav: the file ends inside a row"):
        list(read_sav_chunks(cut, ["RINPERSOON"], 50))
    rows = read_layout(path).units * 8
    cut.write_bytes(data[: start + 120 * rows])  # whole rows, but fewer than the header says
    if not row_compress:
        with pytest.raises(SavError, match="cut.sav: 120 rows, while its header says 300"):
            list(read_sav_chunks(cut, ["RINPERSOON"], 50))
    with pytest.raises(SavError, match="not an SPSS system file"):
        (tmp_path / "no.sav").write_bytes(b"PK\x03\x04" + bytes(200))
        read_layout(tmp_path / "no.sav")


def walked_one_group_at_a_time(following, limit):
    starts, at = [], 0
    while at < limit:
        starts.append(at)
        at = int(following[at])
    return starts, at


@pytest.mark.parametrize("share_253", [0.0, 0.05, 0.5, 0.95])
def test_the_walkers_find_the_groups_a_step_by_step_walk_finds(share_253):
    """Also where stored units are full of the byte 253, so a walker starting inside them wanders
    off the true walk for long stretches (and at the lengths around a walker's 64 units)."""
    rng = np.random.default_rng(7)
    for n in (1, 9, 63, 64, 65, 200, 5_000):
        codes = np.where(rng.random((n, 8)) < share_253, 253, rng.integers(0, 253, (n, 8)))
        following = np.arange(1, n + 1) + (codes == 253).sum(axis=1)
        for limit in (0, n // 2, n - 8, n):
            starts, at = group_starts(following, limit)
            expected, expected_at = walked_one_group_at_a_time(following, limit)
            assert starts.tolist() == expected and at == expected_at, (n, limit)
