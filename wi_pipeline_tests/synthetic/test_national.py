"""National-size CBS tables: CBS's file names, the G4 persons kept, unique keys, valid BSNs, one result
per seed. Tiny here (48,000 persons in chunks of 20,000); the benchmark writes 24 million."""

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from wi_pipeline.lib.bsn import is_valid_bsn
from wi_pipeline.lib.cbs_delivery import find_delivery, read_delivery_chunks
from wi_pipeline.lib.layout import CBS_TABLES
from wi_pipeline.synthetic.cli import main
from wi_pipeline.synthetic.national import NationalConfig, write_national_cbs

YEARS = range(2018, 2025)
EXPECTED_FILES = {
    "KOPPELTABEL/KOPPELTABEL2024V1.parquet",
    "GBAPERSOONTAB/GBAPERSOON2024TABV1.parquet",
    "KINDOUDERTAB/KINDOUDER2024TABV1.parquet",
    "GBAHUISHOUDENSBUS/GBAHUISHOUDENS2024BUSV1.parquet",
    "GBABURGERLIJKESTAATBUS/GBABURGERLIJKESTAAT2024BUSV1.parquet",
    "SECMBUS/SECMBUS2024V1.parquet",
    *(f"SPOLISBUS/SPOLISBUS{y}V1.parquet" for y in YEARS),
    *(f"ZVWZORGKOSTENTAB/ZVWZORGKOSTEN{y}TABV1.parquet" for y in YEARS),
    *(f"PROBSCHULDTAB/PROBSCHULD{y}TABV1.parquet" for y in YEARS),
}


def _g4(landing, table: str) -> pd.DataFrame:
    """The G4 table the pipeline reads from the default generator's delivery."""
    chunks = read_delivery_chunks(find_delivery(landing, table), list(CBS_TABLES[table].columns))
    return pd.concat([c for _, c in chunks])


def _rows(frame: pd.DataFrame) -> set[tuple]:
    return set(frame.astype("string").fillna("").itertuples(index=False, name=None))


def test_national_tables(synthetic_landing, tmp_path):
    landing, _ = synthetic_landing
    cfg = NationalConfig(national_scale=0.002, seed=3, persons_per_chunk=20_000)
    summary = write_national_cbs(landing, tmp_path / "a", cfg)
    cbs = tmp_path / "a" / "CBS"

    assert {str(f.relative_to(cbs)) for f in cbs.rglob("*") if f.is_file()} == EXPECTED_FILES
    assert set(summary["files"]) == EXPECTED_FILES
    assert all((tmp_path / "a" / gm).is_dir() for gm in ("GM0363", "GM0599", "GM0518", "GM0344"))

    persons = pd.read_parquet(cbs / "GBAPERSOONTAB" / "GBAPERSOON2024TABV1.parquet")
    key = pd.read_parquet(cbs / "KOPPELTABEL" / "KOPPELTABEL2024V1.parquet")
    assert len(persons) == summary["persons"] == 48_000
    g4_persons, g4_key = _g4(landing, "GBAPERSOONTAB"), _g4(landing, "KOPPELTABEL")
    # unique keys; a RINPERSOON twice only where the G4 tables have a namesake under RINPERSOONS 'S'
    for table in (persons, key):
        assert not table.duplicated(["RINPERSOONS", "RINPERSOON"]).any()
        filler = table[~table["RINPERSOON"].isin(g4_persons["RINPERSOON"])]
        assert len(filler) > 40_000 and filler["RINPERSOON"].is_unique
    assert persons["RINPERSOON"].str.fullmatch(r"\d{9}").all()
    assert key["BSN"].is_unique and is_valid_bsn(key["BSN"]).all()
    # the G4 persons and their key-file rows are there as they were
    assert _rows(g4_persons) <= _rows(persons) and _rows(g4_key) <= _rows(key)
    assert len(set(key["RINPERSOON"]) - set(persons["RINPERSOON"])) == 0
    # written chunk by chunk, with dates and codes in the documented form
    assert pq.ParquetFile(cbs / "GBAPERSOONTAB" / "GBAPERSOON2024TABV1.parquet").num_row_groups >= 3
    jobs = pd.read_parquet(cbs / "SPOLISBUS" / "SPOLISBUS2021V1.parquet")
    assert jobs["SDATUMAANVANGIKO"].str.fullmatch(r"2021\d{4}").all()
    assert (
        pd.to_datetime(jobs["SDATUMEINDEIKO"]) >= pd.to_datetime(jobs["SDATUMAANVANGIKO"])
    ).all()
    assert 0.8 * 0.002 * 17e6 < len(jobs) < 1.2 * 0.002 * 17e6

    # the same seed gives the same files (through the command line this time)
    assert (
        main(
            [
                "--landing",
                str(tmp_path / "b"),
                "--from-landing",
                str(landing),
                "--national-scale",
                "0.002",
                "--seed",
                "3",
                "--persons-per-chunk",
                "20000",
            ]
        )
        == 0
    )
    for name in EXPECTED_FILES:
        assert pq.read_table(cbs / name).equals(pq.read_table(tmp_path / "b" / "CBS" / name)), name


def test_text_of_concatenated_arrow_column():
    """Arrow gives a chunked array for concatenated arrow-backed text and for large numpy text (the
    G4 jobs at scale 1.0); the CBS writer needs one array to append its edge-case rows to."""
    import pyarrow as pa

    from wi_pipeline.synthetic.extracts import _text

    parts = [pd.Series(["000000001"], dtype="string[pyarrow]")] * 2
    out = _text(pd.concat(parts))
    assert isinstance(out, pa.Array) and out.to_pylist() == ["000000001"] * 2
    assert pa.concat_arrays([out, _text(np.array(["000000002"]))]).to_pylist()[-1] == "000000002"
    dates = _text(np.full(3_000_000, "20180101"))  # numpy text arrow converts in chunks
    assert isinstance(dates, pa.Array) and len(dates) == 3_000_000


def test_namesakes_are_not_persons_whose_own_key_is_other(synthetic_landing):
    """A namesake ('S' with a register person's RINPERSOON) of a person whose own key is 'S' would be
    the same CBS person twice: GBAPERSOONTAB's uniqueness suite stopped the CBS job at scale 1.0."""
    from wi_pipeline.synthetic.extracts import _namesakes

    _, world = synthetic_landing
    rins = world.persons["rinpersoon"].to_numpy()
    kept = _namesakes(np.random.default_rng(1), world, other_key=rins[: len(rins) // 2])
    drawn = _namesakes(np.random.default_rng(1), world)
    assert len(drawn["GBAPERSOONTAB"]["RINPERSOON"]) > 0
    assert not np.isin(kept["GBAPERSOONTAB"]["RINPERSOON"], rins[: len(rins) // 2]).any()


def test_the_sav_form_holds_what_the_parquet_form_holds_as_the_pipeline_reads_it(
    synthetic_landing, tmp_path
):
    landing, _ = synthetic_landing
    args = ["--from-landing", str(landing), "--national-scale", "0.001", "--seed", "4"]
    assert main(["--landing", str(tmp_path / "parquet"), *args]) == 0
    assert main(["--landing", str(tmp_path / "sav"), *args, "--national-form", "sav"]) == 0
    for table in CBS_TABLES:
        [sav] = [f.form for f in find_delivery(tmp_path / "sav", table).files][:1]
        assert sav == "sav", table
        as_sav = _g4(tmp_path / "sav", table).reset_index(drop=True)
        as_parquet = _g4(tmp_path / "parquet", table).reset_index(drop=True)
        pd.testing.assert_frame_equal(
            as_sav.astype("string"), as_parquet.astype("string"), obj=table
        )
