"""Small builders shared by tests: valid synthetic BSNs and hand-made register extracts."""

from pathlib import Path

import pandas as pd

from wi_pipeline.lib.bsn import is_valid_bsn
from wi_pipeline.lib.cbs_delivery import find_delivery, read_delivery_chunks
from wi_pipeline.lib.layout import CBS_TABLES


def synthetic_bsns(n: int, start: int = 999900000) -> list[str]:
    cands = pd.Series([str(x) for x in range(start, start + 20 * n + 100)])
    return cands[is_valid_bsn(cands)].head(n).tolist()


def write_extract(
    folder: Path,
    gemeente: str,
    register: str,
    lines: list[str],
    name: str = "20250115.csv",
    encoding: str = "utf-8",
) -> Path:
    path = Path(folder) / gemeente / register / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(("\n".join(lines) + "\n").encode(encoding))
    return path


def ingest_cbs_table(landing, table: str, key=None, chunk_rows: int | None = None):
    """(accepted, quarantine, rows_in) of a small CBS table as the chunked ingestion stores it, read
    back whole: what tests compare."""
    import uuid

    from wi_pipeline.lib import cbs
    from wi_pipeline.lib.datasets import open_table, read_frame

    folder = Path(landing) / ".stored" / f"{table}-{uuid.uuid4().hex[:8]}"
    staged = cbs.ingest_cbs_table(landing, table, folder, key, chunk_rows or cbs.CHUNK_ROWS)
    return read_frame(open_table(staged.folder)), staged.quarantine, staged.rows_in


def read_delivered(landing: Path, table: str) -> pd.DataFrame:
    """A CBS table as delivered in the landing folder (the files the pipeline chooses), untyped."""
    delivery = find_delivery(landing, table)
    chunks = read_delivery_chunks(delivery, list(CBS_TABLES[table].columns))
    return pd.concat([df for _, df in chunks], ignore_index=True)


def render_in_chromium(page: str, name: str, tmp_path: Path) -> str:
    """Open an HTML page in headless Chromium: its DOM as the browser built it, and a screenshot in
    test-artifacts/<name>.png for people to look at. Skipped without Chromium, except under CI."""
    import os
    import shutil
    import subprocess

    import pytest

    chromium = shutil.which("chromium")
    if chromium is None:
        if os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no"):
            pytest.fail("CI must render the reports: Chromium not found")
        pytest.skip("Chromium not found (make test installs it)")
    path = tmp_path / f"{name}.html"
    path.write_text(page, encoding="utf-8")
    artifacts = Path(__file__).resolve().parents[1] / "test-artifacts"
    artifacts.mkdir(exist_ok=True)
    shot = artifacts / f"{name}.png"
    flags = ["--headless", "--no-sandbox", "--disable-gpu"]
    dom = subprocess.run(
        [chromium, *flags, "--dump-dom", path.as_uri()], capture_output=True, text=True, timeout=120
    ).stdout
    subprocess.run(
        [chromium, *flags, "--window-size=1100,2400", f"--screenshot={shot}", path.as_uri()],
        capture_output=True,
        timeout=120,
    )
    assert shot.exists() and shot.stat().st_size > 20_000, f"no screenshot of {name}"
    return dom
