"""Small builders shared by tests: valid synthetic BSNs and hand-made register extracts."""

from pathlib import Path

import pandas as pd

from wi_pipeline.lib.bsn import is_valid_bsn


def synthetic_bsns(n: int, start: int = 999900000) -> list[str]:
    cands = pd.Series([str(x) for x in range(start, start + 20 * n + 100)])
    return cands[is_valid_bsn(cands)].head(n).tolist()


def write_extract(folder: Path, gemeente: str, register: str, lines: list[str], name: str = "20250115.csv",
                  encoding: str = "utf-8") -> Path:
    path = Path(folder) / gemeente / register / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(("\n".join(lines) + "\n").encode(encoding))
    return path
