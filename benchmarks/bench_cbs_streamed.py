"""Peak memory and time of the chunked CBS ingestion on a padded SPOLISBUS, to see that memory stays
flat as the table grows.

    python benchmarks/bench_cbs_streamed.py generate --rows 10000000 --landing /tmp/cbs10m
    /usr/bin/time -v python benchmarks/bench_cbs_streamed.py ingest --landing /tmp/cbs10m

``generate`` writes ``<landing>/CBS/SPOLISBUS.parquet`` with CBS's text columns in slices of a
million rows (never the whole table in memory): jobs over 2018-2024, a few negative wages. With
``--form sav`` or ``--form csv`` the same rows go to ``<landing>/CBS/SPOLISBUS/SPOLISBUS2019V1.sav``
(or ``.csv``) instead, as CBS delivers them, so the forms' ingestion times compare (the ``.sav`` is
written whole by pyreadstat: keep it to a few million rows).
``ingest`` runs what the asset runs: the chunked typing and quarantine into a staging folder by
year, the GX suite over the stored table in batches, the identifier scan; it prints one JSON line
with the seconds per stage and the peak resident memory (``ru_maxrss``).
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

SLICE = 1_000_000


def generate(landing: Path, rows: int, seed: int = 1, form: str = "parquet") -> Path:
    path = _generate_parquet(landing, rows, seed)
    if form == "parquet":
        return path
    delivered = landing / "CBS" / "SPOLISBUS" / f"SPOLISBUS2019V1.{form}"
    delivered.parent.mkdir(parents=True, exist_ok=True)
    if form == "sav":
        import pyreadstat

        pyreadstat.write_sav(pq.read_table(path).to_pandas(), str(delivered), row_compress=True)
    else:
        import pyarrow.csv as pacsv

        pacsv.write_csv(
            pq.read_table(path), delivered, pacsv.WriteOptions(delimiter=";", quoting_style="none")
        )
    path.unlink()
    return delivered


def _generate_parquet(landing: Path, rows: int, seed: int) -> Path:
    rng = np.random.default_rng(seed)
    path = landing / "CBS" / "SPOLISBUS.parquet"
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = None
    for start in range(0, rows, SLICE):
        n = min(SLICE, rows - start)
        person = rng.integers(1, 24_000_000, n)
        year = rng.integers(2018, 2025, n)
        month = rng.integers(1, 13, n)
        wage = np.round(rng.gamma(2.0, 1200.0, n), 2)
        wage[rng.random(n) < 0.001] *= -1  # corrections, quarantined
        start_txt = np.char.add(
            np.char.add(year.astype(str), np.char.zfill(month.astype(str), 2)), "01"
        )
        end_txt = np.char.add(
            np.char.add(year.astype(str), np.char.zfill(month.astype(str), 2)), "28"
        )
        table = pa.table(
            {
                "RINPERSOONS": pa.array(np.full(n, "R")),
                "RINPERSOON": pa.array(np.char.zfill(person.astype(str), 9)),
                "IKVID": pa.array(rng.integers(1, 9, n).astype(str)),
                "SBEID": pa.array(np.char.zfill(rng.integers(1, 900_000, n).astype(str), 9)),
                "SDATUMAANVANGIKO": pa.array(start_txt),
                "SDATUMEINDEIKO": pa.array(end_txt),
                "SBASISLOON": pa.array(wage.astype(str)),
                "SBASISUREN": pa.array(rng.integers(0, 180, n).astype(str)),
                "SCONTRACTSOORT": pa.array(rng.choice(["O", "B"], n)),
                "SPOLISDIENSTVERBAND": pa.array(rng.choice(["1", "2"], n)),
            }
        )
        if writer is None:
            writer = pq.ParquetWriter(path, table.schema)
        writer.write_table(table, row_group_size=SLICE)
    writer.close()
    return path


def ingest(landing: Path, chunk_rows: int | None) -> dict:
    from wi_pipeline.lib.cbs import ingest_cbs_table
    from wi_pipeline.lib.datasets import ARROW_TEXT, BATCH_ROWS, iter_frames, open_table
    from wi_pipeline.lib.privacy import scan_identifiers_in_parts
    from wi_pipeline.lib.quality import quarantine_share_within, run_suite_on_table

    out = landing / "stored" / "spolisbus"
    shutil.rmtree(out, ignore_errors=True)
    t0 = time.perf_counter()
    staged = ingest_cbs_table(landing, "SPOLISBUS", out, chunk_rows=chunk_rows)
    t1 = time.perf_counter()
    table = open_table(out)
    suite = run_suite_on_table(table, "cbs_spolisbus")
    suite = suite.with_checks(quarantine_share_within(len(staged.quarantine), staged.rows_in))
    t2 = time.perf_counter()
    frames = iter_frames(table, BATCH_ROWS, text=ARROW_TEXT)  # as the asset reads it
    findings = scan_identifiers_in_parts(frames, allow_cbs_keys=True)
    t3 = time.perf_counter()
    return {
        "rows_in": staged.rows_in,
        "rows_accepted": staged.rows_accepted,
        "rows_quarantined": len(staged.quarantine),
        "chunks": staged.chunks,
        "years": sorted(p.name for p in out.iterdir()),
        "suite_passed": suite.success,
        "identifier_findings": [str(f) for f in findings],
        "ingest_s": round(t1 - t0, 1),
        "suite_s": round(t2 - t1, 1),
        "scan_s": round(t3 - t2, 1),
        "total_s": round(t3 - t0, 1),
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["generate", "ingest"])
    parser.add_argument("--landing", type=Path, required=True)
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--chunk-rows", type=int, default=None)
    parser.add_argument("--form", choices=["parquet", "sav", "csv"], default="parquet")
    args = parser.parse_args(argv)
    if args.command == "generate":
        print(generate(args.landing, args.rows, form=args.form))
    else:
        print(json.dumps(ingest(args.landing, args.chunk_rows)))


if __name__ == "__main__":
    main(sys.argv[1:])
