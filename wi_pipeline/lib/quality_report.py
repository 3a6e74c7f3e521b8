"""Data-quality reports: per municipality (what fails, how often, what changed since the previous
extract) and across the G4 (are the harmonised registers comparable?)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from wi_pipeline.lib.layout import G4, SRG_CATEGORIES
from wi_pipeline.lib.privacy import shorten
from wi_pipeline.lib.quality import CheckRecord, SuiteError, distribution_within, suite_path

SUMMARY_COLUMNS = [
    "asset",
    "check",
    "column",
    "severity",
    "success",
    "unexpected_count",
    "unexpected_percent",
    "found",
]
# What to change in the export, per quarantine reason code (REASON_CODES in lib/ingest.py).
EXPORT_ADVICE = {
    "field_count": "a field holds the delimiter ';' or a line break: remove it from free text, "
    "or quote the field",
    "duplicate_row": "the export repeats rows: deliver each spell once (check the query's joins)",
    "bsn_empty": "fill BSN for every row; a row without a citizen service number cannot be linked",
    "bsn_not_digits": "export BSN as 8 or 9 digits (text with leading zeros, no letters)",
    "bsn_eleven_test": "the BSN is mistyped or a test number: correct it in the source system",
    "not_a_date": "write dates as dd-mm-yyyy (day first), in every date column",
    "date_out_of_range": "a date far outside the register's period: check for typing errors (e.g. year 2102)",
    "start_after_extract": "a spell starts after the extract date: check the start date, or export after it",
    "end_before_start": "the end date lies before the start date: the two are swapped or mistyped",
    "unknown_code": "a code outside the register's list: add it to the municipality's mapping or correct it",
    "bsn_in_field": "a BSN was typed into another field: remove it from that field",
}
LINKAGE_LEGEND = (
    "Not found: the pseudonymised BSN is not in CBS's key file (a BSN CBS does not know, or a "
    "person who arrived after the key file was made). Unreliable key: the key file maps it to a "
    "person number of a kind other than 'R'. Ambiguous key: the key file maps it to more than one "
    "person. Failed the eleven-test: quarantined at ingestion, never linked."
)


def quarantine_by_reason(quarantine: pd.DataFrame, first: int = 5) -> list[dict]:
    """Per reason code: how many quarantined rows and the first line numbers in the file (a row that
    breaks several rules counts under each)."""
    if quarantine.empty or "reason_code" not in quarantine:
        return []
    codes = quarantine["reason_code"].astype(str).str.split("; ")
    exploded = quarantine.assign(code=codes).explode("code")
    out = []
    for code, part in exploded.groupby("code", sort=False):
        lines = (
            sorted(int(x) for x in part["line_number"].dropna())[:first]
            if "line_number" in part
            else []
        )
        out.append({"reason_code": code, "rows": int(len(part)), "first_lines": lines})
    return sorted(out, key=lambda r: -r["rows"])


# At the top of every data-quality report: they show counts of any size, so they never leave the
# secure environment.
INTERNAL_NOTICE = (
    "> **Intern werkdocument / internal working document** for the data engineers inside the secure "
    "environment. Not published: unlike the published outputs (effect tables, what works for whom), "
    "it is not under disclosure control and may show counts of fewer than 10 persons."
)


def check_rows(evaluations: list[dict]) -> pd.DataFrame:
    """One row per checked rule from asset-check evaluations.

    Each evaluation is {"asset", "check", "severity", "passed", "records"}; "records" holds the rules
    of a Great Expectations suite (CheckRecord dicts), which get a row each, so the report can say
    which expectation failed and how often. Other checks are one row.
    """
    rows = []
    for ev in evaluations:
        records = ev.get("records")
        if records:
            rows += [
                {
                    "asset": ev["asset"],
                    "check": f"{ev['check']}: {r['expectation']}",
                    "column": r.get("column") or "",
                    "severity": r["severity"],
                    "success": bool(r["success"]),
                    "unexpected_count": r.get("unexpected_count"),
                    "unexpected_percent": r.get("unexpected_percent"),
                    "found": _found(r),
                }
                for r in records
            ]
        else:
            rows.append(
                {
                    "asset": ev["asset"],
                    "check": ev["check"],
                    "column": "",
                    "severity": ev["severity"],
                    "success": bool(ev["passed"]),
                    "unexpected_count": None,
                    "unexpected_percent": None,
                    "found": ev.get("description") or "",
                }
            )
    return pd.DataFrame(rows, columns=SUMMARY_COLUMNS)


def _found(record: dict) -> str:
    """What a check found, in words: its note (e.g. "row count changed +101.5% (tolerance 50%)") or the
    count and share of unexpected rows."""
    if record.get("note"):
        return str(record["note"])
    n, pct = record.get("unexpected_count"), record.get("unexpected_percent")
    if n is None or pd.isna(n):
        return ""
    return f"{int(n):,} unexpected rows" + (
        "" if pct is None or pd.isna(pct) else f" ({float(pct):.1f}%)"
    )


def compare_with_previous(now: pd.DataFrame, previous: pd.DataFrame | None) -> pd.DataFrame:
    """Per check: did it pass on the previous extract, does it now, and how did the count of
    unexpected rows move."""
    key = ["asset", "check", "column"]
    if previous is None or previous.empty:
        out = now.assign(previous_success=pd.NA, previous_unexpected=pd.NA)
    else:
        prev = previous[key + ["success", "unexpected_count"]].rename(
            columns={"success": "previous_success", "unexpected_count": "previous_unexpected"}
        )
        out = now.merge(prev, on=key, how="left")
    status = []
    for _, r in out.iterrows():
        if pd.isna(r["previous_success"]):
            status.append("new" if previous is not None and not previous.empty else "first extract")
        elif bool(r["previous_success"]) and not r["success"]:
            status.append("now failing")
        elif not bool(r["previous_success"]) and r["success"]:
            status.append("fixed")
        else:
            status.append("unchanged")
    return out.assign(change=status)


def _md_table(df: pd.DataFrame) -> str:
    return df.to_markdown(index=False) if len(df) else "_none_"


def municipality_report(
    gemeente: str,
    run: dict,
    checks: pd.DataFrame,
    ingestion: pd.DataFrame,
    linkage_rates: str | None,
    extracts: dict[str, str],
    previous: pd.DataFrame | None,
    unrecognised: list[str] | None = None,
    quarantined: dict[str, list[dict]] | None = None,
) -> tuple[str, pd.DataFrame]:
    """Markdown for the UI and the summary table to remember for the next extract.

    ``run`` describes the municipality's latest pipeline run: {"run_id", "status", "failures" (step
    failure messages, which name the file and column of a malformed extract), "not_run" (assets
    skipped because something upstream failed)}. A blocking failure is what the report is most for.
    ``unrecognised`` lists the files in the municipality's landing folder that are never ingested
    because of their name or place, each with the name the contract expects. ``quarantined``: per
    register the ``quarantine_by_reason`` of its stored extract. Each message is capped in size.
    """
    changes = compare_with_previous(checks, previous)
    failing = changes[~changes["success"].astype(bool)]
    moved = changes[changes["change"].isin(["now failing", "fixed"])]
    blocking = int(((~checks["success"].astype(bool)) & (checks["severity"] == "error")).sum())
    name = G4.get(gemeente, gemeente)
    status = run.get("status", "no run yet")
    n_quarantined = int(
        pd.to_numeric(ingestion.get("quarantined", pd.Series(dtype=float)), errors="coerce").sum()
    )
    n_in = int(
        pd.to_numeric(ingestion.get("rows_in", pd.Series(dtype=float)), errors="coerce").sum()
    )
    if status == "SUCCESS" and not blocking:
        verdict = "**passed**: every blocking check passed"
        if n_quarantined:
            verdict += f"; {n_quarantined:,} of {n_in:,} rows were set apart (see 'Quarantined rows' below)"
    else:
        verdict = f"**{status}**: {blocking} blocking check(s) failed"
        if run.get("failures"):
            verdict += f", {len(run['failures'])} step(s) stopped"
        if run.get("not_run"):
            verdict += "; the assets below were not rebuilt and keep their previous good output"
    lines = [
        INTERNAL_NOTICE,
        "",
        f"# Data quality: {name} ({gemeente})",
        "",
        f"Latest run `{str(run.get('run_id', ''))[:8]}`: {verdict}. {len(checks)} checked rules, "
        f"**{int((~checks['success'].astype(bool)).sum())} failing**.",
        "",
        "## Extracts",
        _md_table(pd.DataFrame(sorted(extracts.items()), columns=["register", "current extract"])),
        "",
        "## Errors that stopped the run",
        "\n".join(f"- {shorten(f)}" for f in run.get("failures", [])) or "_none_",
        "",
        "Not rebuilt because something upstream failed: "
        + (", ".join(f"`{a}`" for a in run.get("not_run", [])) or "_nothing_"),
        "",
        "## Files not ingested: named outside the landing contract",
        "\n".join(f"- {shorten(f)}" for f in unrecognised or []) or "_none_",
        "",
        "## Rows per extract (in = accepted + quarantined)",
        _md_table(ingestion),
        "",
        "## Quarantined rows: why, where, and what to change in the export",
        _md_table(_quarantine_table(quarantined or {})),
        "",
        "## Linkage to CBS",
        linkage_rates or "_not available_",
        "",
        LINKAGE_LEGEND,
        "",
        "## Failing checks",
        _md_table(failing[["asset", "check", "column", "severity", "found", "change"]]),
        "",
        "## Changes since the previous extract",
        _md_table(
            moved[["asset", "check", "column", "change", "previous_unexpected", "unexpected_count"]]
        ),
    ]
    return "\n".join(lines), checks


def _quarantine_table(quarantined: dict[str, list[dict]]) -> pd.DataFrame:
    from wi_pipeline.lib.ingest import REASON_CODES

    rows = [
        {
            "register": register,
            "reason": REASON_CODES.get(r["reason_code"], r["reason_code"]),
            "rows": r["rows"],
            "first lines": ", ".join(map(str, r["first_lines"])),
            "what to change in the export": EXPORT_ADVICE.get(r["reason_code"], ""),
        }
        for register, reasons in sorted(quarantined.items())
        for r in reasons
    ]
    return pd.DataFrame(
        rows, columns=["register", "reason", "rows", "first lines", "what to change in the export"]
    )


def g4_profile(panel: pd.DataFrame) -> dict[str, float]:
    """Key distributions of one municipality's panel, per person (first month on bijstand)."""
    on = panel[panel["on_bijstand"]]
    first = on.sort_values("month").groupby("pseudo_id", observed=True).first()
    persons = max(len(first), 1)
    ever = panel.groupby("pseudo_id", observed=True)[[f"instr_{c}" for c in SRG_CATEGORIES]].any()
    runs = on.groupby("pseudo_id", observed=True)["bijstand_duration_months"].max()
    profile = {
        "share_single_parent": float(first["single_parent"].mean()) if len(first) else float("nan"),
        "share_women": float((first["sex"] == "vrouw").mean()) if len(first) else float("nan"),
        "share_age_under_27": float((first["age"] < 27).mean()) if len(first) else float("nan"),
        "share_age_55_plus": float((first["age"] >= 55).mean()) if len(first) else float("nan"),
        "mean_spell_months": float(runs.mean() + 1) if len(runs) else float("nan"),
        "persons": float(persons),
    }
    profile.update({f"share_{c}": float(ever[f"instr_{c}"].mean()) for c in SRG_CATEGORIES})
    return profile


G4_COMPARISON = (
    "g4_comparison"  # expectations/g4_comparison.json: the tolerances, editable like a suite
)


def load_g4_tolerances(path: str | Path | None = None) -> dict[str, float]:
    """Tolerances per measure (by name prefix) from ``expectations/g4_comparison.json``.

    A data engineer tunes them without touching code; a malformed file is a SuiteError naming it.
    """
    path = suite_path(path or G4_COMPARISON)
    try:
        tolerances = json.loads(path.read_text(encoding="utf-8"))["tolerances"]
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise SuiteError(
            f"{path}: cannot read the G4 tolerances ({type(err).__name__}: {err}); expected "
            '{"tolerances": {"share_": 0.10, "mean_spell_months": 12}}'
        ) from None
    bad = [
        k
        for k, v in tolerances.items()
        if isinstance(v, bool) or not isinstance(v, (int, float)) or v < 0
    ]
    if not isinstance(tolerances, dict) or not tolerances or bad:
        raise SuiteError(
            f"{path}: tolerances must map measure-name prefixes to non-negative numbers; check {bad}"
        )
    return {str(k): float(v) for k, v in tolerances.items()}


def g4_comparison(
    profiles: dict[str, dict[str, float]], tolerances: dict[str, float]
) -> tuple[pd.DataFrame, list[CheckRecord]]:
    """Each municipality against the pooled G4 (person-weighted), with a tolerance per measure."""
    table = pd.DataFrame(profiles).T
    weights = table["persons"]
    pooled = {
        c: float((table[c] * weights).sum() / weights.sum())
        for c in table.columns
        if c != "persons"
    }
    records = []
    for gm, row in table.iterrows():
        for col, value in pooled.items():
            tol = next((t for prefix, t in tolerances.items() if col.startswith(prefix)), None)
            if tol is not None:
                records.append(distribution_within(row[col], value, tol, f"{gm} {col}"))
    out = table.drop(columns="persons").T
    out["G4_pooled"] = pd.Series(pooled)
    return out.round(4), records


def g4_report(
    profiles: dict[str, dict[str, float]], tolerances: dict[str, float]
) -> tuple[str, list[CheckRecord]]:
    """Markdown of the G4 comparison and the per-measure results behind the warning check."""
    table, records = g4_comparison(profiles, tolerances)
    off = "\n".join(f"- {r.note}" for r in records if not r.success) or "_none_"
    report = "\n".join(
        [
            INTERNAL_NOTICE,
            "",
            "# Comparability across the G4",
            "",
            "Shares are per person (first month on bijstand). Tolerances (from "
            "`expectations/g4_comparison.json`): "
            + ", ".join(f"`{k}*` {v:g}" for k, v in tolerances.items())
            + ".",
            "",
            table.to_markdown(),
            "",
            "## Outside tolerance",
            "",
            off,
        ]
    )
    return report, records
