"""SPSS files written chunk by chunk read back as written, by the reader the pipeline uses."""

import pyarrow as pa
import pyreadstat
import pytest

from wi_pipeline.synthetic.sav import SavWriter

SCHEMA = pa.schema(
    [
        ("RINPERSOONS", pa.string()),
        ("RINPERSOON", pa.string()),
        ("SDATUMAANVANGIKO", pa.string()),
        ("SBASISLOON", pa.float64()),
        ("OMSCHRIJVING_VAN_HET_CONTRACT", pa.string()),  # a long name, a long text
    ]
)
ROWS = pa.table(
    {
        "RINPERSOONS": ["R", "R", None],
        "RINPERSOON": ["000000001", "123456789", "000000003"],
        "SDATUMAANVANGIKO": ["20190101", "20200229", ""],
        "SBASISLOON": [1.5, None, 3.25],
        "OMSCHRIJVING_VAN_HET_CONTRACT": ["vast één", "x" * 20, "y"],
    },
    schema=SCHEMA,
)


@pytest.mark.parametrize("compressed", [True, False], ids=["bytecode", "uncompressed"])
def test_chunks_written_one_after_another_read_back_as_one_table(tmp_path, compressed):
    path = tmp_path / "SPOLISBUS2019V1.sav"
    writer = SavWriter(
        path, SCHEMA, widths={"OMSCHRIJVING_VAN_HET_CONTRACT": 24}, compressed=compressed
    )
    writer.write(ROWS)
    writer.write(ROWS.slice(1, 2))
    writer.close()
    frame, meta = pyreadstat.read_sav(str(path))
    assert meta.number_rows == writer.rows == 5
    assert list(frame.columns) == SCHEMA.names
    assert frame["RINPERSOON"].tolist() == ["000000001", "123456789", "000000003"] + [
        "123456789",
        "000000003",
    ]  # leading zeros kept: text
    assert frame["RINPERSOONS"].tolist() == ["R", "R", "", "R", ""]  # missing text: empty
    assert frame["SBASISLOON"].isna().tolist() == [False, True, False, True, False]
    assert frame["SBASISLOON"].iloc[[0, 2]].tolist() == [1.5, 3.25]
    assert frame["OMSCHRIJVING_VAN_HET_CONTRACT"].iloc[0] == "vast één"  # UTF-8
    chunks = [
        c for c, _ in pyreadstat.read_file_in_chunks(pyreadstat.read_sav, str(path), chunksize=2)
    ]
    assert [len(c) for c in chunks] == [2, 2, 1]


def test_a_value_longer_than_its_column_is_refused_not_cut(tmp_path):
    writer = SavWriter(tmp_path / "t.sav", SCHEMA)  # widths from the first chunk
    writer.write(ROWS)
    longer = ROWS.set_column(1, "RINPERSOON", pa.array(["1234567890"] * 3))
    with pytest.raises(ValueError, match="RINPERSOON holds 10 bytes, its column 9"):
        writer.write(longer)


@pytest.mark.parametrize("compressed", [True, False], ids=["bytecode", "uncompressed"])
def test_an_empty_table_is_a_readable_file_without_rows(tmp_path, compressed):
    writer = SavWriter(tmp_path / "empty.sav", SCHEMA, compressed=compressed)
    writer.close()
    frame, meta = pyreadstat.read_sav(str(tmp_path / "empty.sav"))
    assert meta.number_rows == 0 and list(frame.columns) == SCHEMA.names
