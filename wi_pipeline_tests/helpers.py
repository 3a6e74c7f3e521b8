"""Small builders shared by tests: valid synthetic BSNs, hand-made register extracts and a simulated
staggered-adoption panel."""

from pathlib import Path

import numpy as np
import pandas as pd

from wi_pipeline.lib.bsn import is_valid_bsn
from wi_pipeline.lib.cbs_delivery import find_delivery, read_delivery_chunks
from wi_pipeline.lib.layout import CBS_TABLES


def synthetic_bsns(n: int, start: int = 999900000) -> list[str]:
    cands = pd.Series([str(x) for x in range(start, start + 20 * n + 100)])
    return cands[is_valid_bsn(cands)].head(n).tolist()


def eleven_test_by_hand(value) -> bool:
    """The BSN eleven-test as the rule states it, one number at a time and independent of
    ``lib.bsn``: nine ASCII digits with 9*d1 + 8*d2 + ... + 2*d8 - 1*d9 divisible by 11 and not 0."""
    if not isinstance(value, str) or len(value) != 9 or not all(c in "0123456789" for c in value):
        return False
    total = sum(w * int(c) for w, c in zip((9, 8, 7, 6, 5, 4, 3, 2, -1), value))
    return total % 11 == 0 and total != 0


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


def read_inventory(page: str) -> dict:
    """The facts the data inventory states, read back from its HTML: per section (its Dutch heading)
    the rows of its table as lists of cells; the fields of the municipal registers (used, dropped)
    and of the CBS tables as their codes; who sees each table; the retention, in days, in Dutch and
    English."""
    import re

    sections = {}
    for part in page.split("<h2>")[1:]:
        heading, body = part.split("</h2>", 1)
        rows = [
            re.findall(r"<td>(.*?)</td>", row, flags=re.S)
            for row in re.findall(r"<tr>(.*?)</tr>", body, flags=re.S)
        ]
        sections[heading.split(" / ")[0].strip()] = [r for r in rows if r]

    def codes(cell: str) -> list[str]:  # 'geslacht (GBAGESLACHT), ...<br><span>English</span>'
        return re.findall(r"\(([A-Za-z_]+)\)", cell.split("<br>")[0])

    def keys(section: str) -> dict[str, str]:
        return {re.sub(r"</?code>", "", r[1]): r[4] for r in sections[section]}

    how_long = page.split("<h2>Hoe lang")[1].split("<h2>")[0]
    return {
        "sections": sections,
        "registers": {
            r[0]: (codes(r[3]), codes(r[4])) for r in sections["Gegevens van de gemeente"]
        },
        "cbs": {r[0]: codes(r[3]) for r in sections["Gegevens van het CBS"]},
        "published": keys("Wat naar buiten gaat"),
        "internal": keys("Interne tussenstappen"),
        "retention_days": (
            [int(d) for d in re.findall(r"(\d+) dagen", how_long)],
            [int(d) for d in re.findall(r"(\d+) days", how_long)],
        ),
    }


def ingest_cbs_table(landing, table: str, key=None, chunk_rows: int | None = None):
    """(accepted, quarantine, rows_in) of a small CBS table as the chunked ingestion stores it, read
    back whole: what tests compare."""
    import uuid

    from wi_pipeline.lib import cbs
    from wi_pipeline.lib.datasets import open_table, read_frame

    folder = Path(landing) / ".stored" / f"{table}-{uuid.uuid4().hex[:8]}"
    staged = cbs.ingest_cbs_table(landing, table, folder, key, chunk_rows)
    return read_frame(open_table(staged.folder)), staged.quarantine, staged.rows_in


def read_delivered(landing: Path, table: str) -> pd.DataFrame:
    """A CBS table as delivered in the landing folder (the files the pipeline chooses), untyped."""
    delivery = find_delivery(landing, table)
    chunks = read_delivery_chunks(delivery, list(CBS_TABLES[table].columns))
    df = pd.concat([df for _, df in chunks], ignore_index=True)
    # text as plain Python strings, the form tests write new files from
    return df.astype({c: object for c in df.columns if isinstance(df[c].dtype, pd.StringDtype)})


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


def staggered_panel(rng, units=300, periods=8, trend_violation=0.0, effect=(0.5, 0.25)):
    """Cohorts 0 (never), 4..7; unit effects correlated with the cohort; a common shock per period;
    the effect of cohort g at event time e >= 0 is effect[0] + effect[1] * e. trend_violation gives the
    two latest cohorts an extra slope per period (parallel trends fail)."""
    cohorts = np.array([0, 4, 5, 6, 7])
    g = cohorts[rng.integers(0, len(cohorts), units)]
    t = np.arange(1, periods + 1)
    alpha = rng.normal(size=units) + 0.3 * (g > 0) + 0.05 * g
    shock = rng.normal(scale=0.5, size=periods)
    e = t[None, :] - g[:, None]
    te = np.where((g[:, None] > 0) & (e >= 0), effect[0] + effect[1] * e, 0.0)
    drift = trend_violation * (g >= 6)[:, None] * t[None, :]
    y = alpha[:, None] + shock[None, :] + te + drift + rng.normal(size=(units, periods))
    return pd.DataFrame(
        {
            "id": np.repeat(np.arange(units), periods),
            "t": np.tile(t, units),
            "g": np.repeat(g, periods),
            "y": y.ravel(),
        }
    )
