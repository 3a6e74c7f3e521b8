"""The one-pass SPSS reader gives what pyreadstat gives, for every way a system file stores its rows."""

import struct

import numpy as np
import pandas as pd
import pyarrow as pa
import pyreadstat
import pytest

from wi_pipeline.lib import spss
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


def written(path, df, compressed=True, chunks=None, widths=None):
    """`df` through the project's own writer, (start, stop) rows at a time."""
    schema = pa.Schema.from_pandas(df, preserve_index=False)
    writer = SavWriter(path, schema, widths=widths, compressed=compressed)
    for start, stop in chunks or [(0, len(df))]:
        writer.write(pa.Table.from_pandas(df.iloc[start:stop], preserve_index=False))
    writer.close()
    return path


def recoded(path, code_page, encoding_record, byte):
    """The file as if written in another character set: its code page and encoding record changed
    and every "#" in its rows replaced by `byte`."""
    data = path.read_bytes()
    integers = struct.pack("<iiii", 7, 3, 4, 8)
    at = data.index(integers) + len(integers) + 28
    data = data[:at] + struct.pack("<i", code_page) + data[at + 4 :]
    utf8 = struct.pack("<iiii", 7, 20, 1, 5) + b"UTF-8"
    data = data.replace(
        utf8, struct.pack("<iiii", 7, 20, 1, len(encoding_record)) + encoding_record
    )
    start = data.index(struct.pack("<ii", 999, 0)) + 8
    path.write_bytes(data[:start] + data[start:].replace(b"#", byte))
    return path


@pytest.mark.parametrize("read_bytes", [8, 24, 72, 1 << 24])
@pytest.mark.parametrize("compressed", [True, False], ids=["bytecode", "uncompressed"])
def test_rows_across_many_read_buffers_are_what_pyreadstat_reads(
    tmp_path, monkeypatch, compressed, read_bytes
):
    """The read buffer ends inside a group, a stored unit and a row: with a bias other than 100, a
    row count the header does not record (read to the end), and the writer's chunks ending inside
    a group of codes, at whole numbers just inside and outside what a code holds."""
    monkeypatch.setattr(spss, "_READ_BYTES", read_bytes)
    x = np.r_[np.arange(-102.0, 154.0), [-0.0, np.nan, 0.5, 1e300, -np.inf]]
    df = pd.DataFrame({"x": x, "s": [("ab#" * 9)[: k % 24] for k in range(len(x))]})
    chunks = [(0, 7), (7, 20), (20, 151), (151, 300)]
    path = written(tmp_path / "b.sav", df, compressed, chunks, widths={"s": 24})
    header = bytearray(path.read_bytes())
    for rows, bias in [(len(x), 100.0), (-1, 100.0), (-1, 37.0)]:
        header[80:92] = struct.pack("<id", rows, bias)
        path.write_bytes(bytes(header))
        assert read_layout(path).rows == rows
        assert ours(path, ["x", "s"], 64) == pyreadstat_columns(path, ["x", "s"]), (rows, bias)


@pytest.mark.parametrize("read_bytes", [16, 1 << 24])
def test_the_end_code_followed_by_other_bytes_ends_the_rows(tmp_path, monkeypatch, read_bytes):
    monkeypatch.setattr(spss, "_READ_BYTES", read_bytes)
    path = tmp_path / "e.sav"
    pyreadstat.write_sav(mixed(40), path, row_compress=True)
    data = bytearray(path.read_bytes() + bytes(range(256)) * 3)
    data[80:84] = struct.pack("<i", -1)
    path.write_bytes(bytes(data))
    assert ours(path, ["NAAM", "BIG"], 9) == pyreadstat_columns(path, ["NAAM", "BIG"])
    assert len(ours(path, ["BIG"], 9)["BIG"]) == 40


def test_bytes_after_the_rows_the_header_counts_are_left_as_readstat_leaves_them(tmp_path):
    path = tmp_path / "t.sav"
    pyreadstat.write_sav(mixed(30), path)
    path.write_bytes(path.read_bytes() + b"abc")
    assert ours(path, ["NAAM", "BIG"], 7) == pyreadstat_columns(path, ["NAAM", "BIG"])


def test_infinities_are_missing_where_a_declared_range_or_value_reaches_them(tmp_path):
    """ReadStat reads LO and HI as the infinities, and the highest number as +inf."""
    df = pd.DataFrame({"x": [1.0, -np.inf, np.inf, 5.0, 7.0]})
    for k, declared in enumerate(
        [[{"lo": -np.inf, "hi": 5.0}], [{"lo": 6.0, "hi": np.inf}], [np.inf], [-np.inf, 7.0]]
    ):
        path = tmp_path / f"m{k}.sav"
        pyreadstat.write_sav(df, path, missing_ranges={"x": declared})
        assert ours(path, ["x"], 2) == pyreadstat_columns(path, ["x"]), declared


def test_declared_missing_values_of_a_long_text_leave_it_to_pyreadstat(tmp_path):
    """SPSS keeps them in their own record (subtype 22), not in the variable record."""
    long = "omschrijving_met_lange_naam"
    df = pd.DataFrame({"s": ["NA", "abcdefghijk", "x"], "t": ["NA", "b", "c"], long: ["NA"] * 3})
    path = tmp_path / "m.sav"
    pyreadstat.write_sav(
        df.assign(**{long: "x" * 12}), path, missing_ranges={"s": ["NA"], long: ["NA"]}
    )
    assert pyreadstat_columns(path, ["s"])["s"][0] is None
    assert "s: declared missing texts" in read_layout(path).why_not(["s"])
    assert f"{long}: declared missing texts" in read_layout(path).why_not([long])
    assert read_layout(path).why_not(["t"]) is None


@pytest.mark.parametrize("compressed", [True, False], ids=["bytecode", "uncompressed"])
def test_texts_of_a_file_in_another_character_set_are_what_pyreadstat_reads(tmp_path, compressed):
    """Windows-1252 (its NUL ends a text, as ReadStat's C strings end), a file that says "utf-8"
    in lower case (NUL bytes end texts too: ReadStat drops them only for "UTF-8"), and a UTF-8
    character cut off at the end of a text, which ReadStat leaves out."""
    df = pd.DataFrame({"s": ["abc", "Zo#", "", "x#y", "abcdefg#"] * 3, "x": np.arange(15.0)})
    for code_page, record, byte in [
        (1252, b"windows-1252", b"\xeb"),
        (1252, b"windows-1252", b"\0"),
        (65001, b"utf-8", b"\0"),
        (65001, b"UTF-8", b"\0"),
    ]:
        path = written(tmp_path / "c.sav", df, compressed, widths={"s": 8})
        recoded(path, code_page, record, byte)
        assert ours(path, ["s", "x"], 4) == pyreadstat_columns(path, ["s", "x"]), (record, byte)
    cut = df.assign(s=df["s"].str.replace("x#y", "xy"))  # a cut-off character only at the end
    path = recoded(
        written(tmp_path / "u.sav", cut, compressed, widths={"s": 8}), 65001, b"UTF-8", b"\xc3"
    )
    expected = pyreadstat_columns(path, ["s"])
    assert "Zo" in expected["s"] and ours(path, ["s"], 4) == expected
    path = recoded(written(tmp_path / "w.sav", df, compressed), 1252, b"windows-1252", b"\x81")
    with pytest.raises(SavError, match="not cp1252"):  # pyreadstat fails on it too
        ours(path, ["s"], 4)


def test_a_number_with_a_text_format_is_left_to_pyreadstat(tmp_path):
    """ReadStat reads a variable as a text if its print or write format is A, whatever its type."""
    path = tmp_path / "a.sav"
    pyreadstat.write_sav(pd.DataFrame({"x": [1.0, 2.0]}), path)
    data = path.read_bytes()
    at = data.index(struct.pack("<iiiii", 2, 0, 0, 0, 0)[:4] + struct.pack("<i", 0), 176)
    printed = (1 << 16) | (8 << 8)  # A8
    path.write_bytes(data[: at + 16] + struct.pack("<i", printed) + data[at + 20 :])
    assert pyreadstat.read_sav(str(path))[1].original_variable_types["x"] == "A8"
    assert "a number with a text format" in read_layout(path).why_not(["x"])


@pytest.mark.parametrize("row_compress", [False, True], ids=["uncompressed", "bytecode"])
def test_texts_of_8_9_16_and_255_bytes_with_labels_and_a_document(tmp_path, row_compress):
    """Continuation records for each further 8 bytes; variable and value labels and a document
    (record 6) sit between the variable records and the rows."""
    k = np.arange(40)
    df = pd.DataFrame(
        {
            f"s{w}": [
                ("é" * (w // 4) + "x" * w).encode()[:w].decode("utf-8", "ignore") if i % 3 else ""
                for i in k
            ]
            for w in (8, 9, 16, 255)
        }
    ).assign(n=k % 4 * 1.0)
    path = tmp_path / "w.sav"
    pyreadstat.write_sav(
        df,
        path,
        row_compress=row_compress,
        column_labels=["acht", "negen", "zestien", "lang", "getal"],
        variable_value_labels={"n": {1.0: "een", 2.0: "twee"}, "s8": {"x": "X"}},
        note="een document",
    )
    assert [v.units for v in read_layout(path).variables] == [1, 2, 2, 32, 1]
    assert pyreadstat.read_sav(str(path), metadataonly=True)[1].notes == ["een document"]
    assert ours(path, list(df), 6) == pyreadstat_columns(path, list(df))
