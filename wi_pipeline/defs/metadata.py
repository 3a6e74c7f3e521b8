"""Asset metadata for the UI: counts, schema and a preview that never shows an identifier."""

import pandas as pd
from dagster import MetadataValue, TableColumn, TableSchema

from wi_pipeline.lib.layout import COLUMN_DESCRIPTIONS
from wi_pipeline.lib.privacy import PREVIEW_CELL_MAX_CHARS, shorten

IDENTIFIER_COLUMNS = (
    "BSN",
    "RINPERSOON",
    "RINPERSOONS",
    "pseudo_id",
    "RINPERSOONMa",
    "RINPERSOONpa",
    "RINPERSOONSMa",
    "RINPERSOONSpa",
    "person_id",
)


def table_schema(df: pd.DataFrame) -> MetadataValue:
    """The Columns table in the UI: each column's type and what it holds."""
    return MetadataValue.table_schema(
        TableSchema(
            columns=[
                TableColumn(name=str(c), type=str(t), description=COLUMN_DESCRIPTIONS.get(str(c)))
                for c, t in df.dtypes.items()
            ]
        )
    )


def preview(df: pd.DataFrame, rows: int = 5) -> MetadataValue:
    """The first rows without identifier columns; each text cell cut to a width, so one huge value in a
    quarantined row cannot make a huge event."""
    shown = df.drop(columns=[c for c in df.columns if c in IDENTIFIER_COLUMNS]).head(rows)
    shown = shown.apply(
        lambda s: s.map(lambda v: shorten(v, PREVIEW_CELL_MAX_CHARS) if isinstance(v, str) else v)
    )
    return MetadataValue.md(
        shown.to_markdown(index=False) if len(shown.columns) else "(identifier columns only)"
    )


def counts_md(counts: dict[str, int], label: str = "reason") -> MetadataValue:
    if not counts:
        return MetadataValue.md("none")
    lines = [f"| {label} | rows |", "|---|---:|"] + [
        f"| {k} | {v} |" for k, v in sorted(counts.items(), key=lambda kv: -kv[1])
    ]
    return MetadataValue.md("\n".join(lines))


# the register extracts (register -> sha256) an output was built from: it travels in the frames' attrs, stored
# with them, and is recorded in the metadata of every municipal asset downstream of the registers, so the
# sensor rebuild_behind_registers can tell which ones are still built from an older extract
REGISTER_EXTRACTS = "register_extracts"


def register_extracts(*frames: pd.DataFrame) -> dict[str, str]:
    """The register extracts the frames were built from, merged."""
    out: dict[str, str] = {}
    for df in frames:
        out.update(df.attrs.get(REGISTER_EXTRACTS) or {})
    return dict(sorted(out.items()))


def built_from(extracts: dict[str, str]) -> dict:
    return {REGISTER_EXTRACTS: MetadataValue.json(extracts)}


def ingestion_metadata(
    accepted: pd.DataFrame,
    rows_in: int,
    quarantine_counts: dict[str, int],
    n_quarantined: int,
    n_accepted: int | None = None,
) -> dict:
    """``accepted`` may be the first rows only of a table too large for memory, then with
    ``n_accepted`` its row count."""
    n_accepted = len(accepted) if n_accepted is None else n_accepted
    return {
        "rows_in": rows_in,
        "rows_accepted": n_accepted,
        "rows_quarantined": n_quarantined,
        "quarantine_reasons": counts_md(quarantine_counts),
        "dagster/row_count": n_accepted,
        "dagster/column_schema": table_schema(accepted).value,
        "preview": preview(accepted),
    }
