"""Linking pseudonymised register spells to CBS person numbers through the pseudonymised key file.

Linked spells keep the municipality column of the register they come from, as the quarantine does.
Only RINPERSOONS = 'R' links reliably; anything else, anyone missing from the key file and anyone
whose pseudonym the key file maps to more than one person key, is kept in quarantine with the reason,
so the linkage rate per register is an honest count.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pandas as pd
import pyarrow.dataset as ds

from wi_pipeline.lib.datasets import StagedTable, open_table, rows_with_keys, table_attrs
from wi_pipeline.lib.ingest import count_invalid_bsn
from wi_pipeline.lib.pseudonymise import PSEUDONYM_COLUMN

KEY_FINGERPRINT = (
    "key_fingerprint"  # where a table carries the fingerprint of its pseudonyms' key (attrs)
)
REASON_NOT_FOUND = "person not in the CBS key file"
REASON_UNRELIABLE = "person key not reliable (RINPERSOONS is not R)"
REASON_AMBIGUOUS = "ambiguous key: the key file maps this pseudonym to more than one CBS person key"


@dataclass
class LinkageResult:
    linked: (
        pd.DataFrame
    )  # gemeente, register, pseudo_id, RINPERSOON, code, start, end, extract_date
    quarantine: pd.DataFrame
    rates: pd.DataFrame  # one row per register
    ambiguous_pseudonyms: int = 0  # pseudonyms with more than one person key in the key file


def check_same_key(fingerprints: dict[str, str | None]) -> str | None:
    """Refuse to combine inputs pseudonymised with different keys: their pseudonyms would not match.

    An input without a fingerprint next to inputs with one is refused too: which key made it is
    unknown. Inputs that hold no pseudonyms at all (every fingerprint missing) pass.
    """
    known = {name: fp for name, fp in fingerprints.items() if fp}
    unknown = sorted(name for name, fp in fingerprints.items() if not fp)
    rebuild = "rebuild every asset with one key (see 'Rotating the key' in the README)"
    if len(set(known.values())) > 1:
        listing = ", ".join(f"{n}={fp}" for n, fp in sorted(known.items()))
        raise ValueError(
            "inputs were pseudonymised with different keys (fingerprints "
            + listing
            + "); "
            + rebuild
        )
    if known and unknown:
        raise ValueError(
            f"inputs {', '.join(unknown)} carry no key fingerprint, so their key is unknown; "
            + rebuild
        )
    return next(iter(known.values()), None)


def key_fingerprint(table: pd.DataFrame | ds.Dataset | StagedTable) -> str | None:
    """The fingerprint of the key ``table``'s pseudonyms were made with, as it travels with the
    table: in a frame's attrs, or in the schema of a table stored (or staged) in parts."""
    if isinstance(table, StagedTable):
        table = open_table(table.folder)
    attrs = table_attrs(table) if isinstance(table, ds.Dataset) else table.attrs
    return attrs.get(KEY_FINGERPRINT) or None


def carry_key(fingerprint: str | None, *frames: pd.DataFrame) -> None:
    """The frames travel with the fingerprint of their pseudonyms' key (the IO manager stores it)."""
    for df in frames:
        df.attrs[KEY_FINGERPRINT] = fingerprint


def same_key(frames: Mapping[str, pd.DataFrame]) -> str | None:
    """``check_same_key`` on the fingerprints the tables carry (name -> table)."""
    return check_same_key({name: key_fingerprint(df) for name, df in frames.items()})


def ambiguous_pseudonyms(key_file: pd.DataFrame) -> pd.Index:
    """Pseudonyms that the key file maps to more than one person key (one BSN, two RINPERSOONs)."""
    pairs = key_file[[PSEUDONYM_COLUMN, "RINPERSOONS", "RINPERSOON"]].drop_duplicates()
    return pd.Index(
        pairs.loc[pairs[PSEUDONYM_COLUMN].duplicated(keep=False), PSEUDONYM_COLUMN].unique()
    )


def key_file_rows(key_file: ds.Dataset, registers: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """The key-file rows of the persons in these registers only, found by a semi-join on the
    pseudonym: the national key file is never loaded whole. Every row of such a person is read, so
    an ambiguous key is seen as in the whole file."""
    wanted = pd.concat([r[PSEUDONYM_COLUMN] for r in registers.values()], ignore_index=True)
    rows = rows_with_keys(
        key_file,
        [PSEUDONYM_COLUMN, "RINPERSOONS", "RINPERSOON"],
        wanted,
        [(None, PSEUDONYM_COLUMN)],
    )
    rows.attrs.update(table_attrs(key_file))  # its key fingerprint, its ambiguous count
    return rows


def link_registers(
    registers: dict[str, pd.DataFrame],
    ingestion_quarantine: dict[str, pd.DataFrame],
    key_file: pd.DataFrame,
    ambiguous_in_key_file: int | None = None,
) -> LinkageResult:
    """Linked spells, quarantined spells with their reason, and linkage rates per register.

    A pseudonym with two person keys in the key file is not resolved by picking one: either pick
    could join the wrong person's CBS records, so its spells are quarantined as ambiguous.
    ``key_file`` may hold only the rows of the registers' persons (``key_file_rows``); then
    ``ambiguous_in_key_file`` gives the count of the whole file, as ingestion recorded it.
    """
    pairs = key_file[[PSEUDONYM_COLUMN, "RINPERSOONS", "RINPERSOON"]].drop_duplicates()
    ambiguous = ambiguous_pseudonyms(pairs)
    keys = pairs[~pairs[PSEUDONYM_COLUMN].isin(ambiguous)].set_index(PSEUDONYM_COLUMN)
    linked_parts, quarantine_parts, rates = [], [], []
    for name, spells in registers.items():
        kind = spells[PSEUDONYM_COLUMN].map(keys["RINPERSOONS"])
        rin = spells[PSEUDONYM_COLUMN].map(keys["RINPERSOON"])
        ok = (kind == "R").fillna(False).astype(bool)
        reason = pd.Series(REASON_UNRELIABLE, index=spells.index).where(
            kind.notna(), REASON_NOT_FOUND
        )
        reason = reason.mask(spells[PSEUDONYM_COLUMN].isin(ambiguous), REASON_AMBIGUOUS)
        linked_parts.append(
            spells.loc[
                ok, ["gemeente", PSEUDONYM_COLUMN, "code", "start", "end", "extract_date"]
            ].assign(register=name, RINPERSOON=rin[ok].astype("string"))
        )
        quarantine_parts.append(spells.loc[~ok].assign(register=name, reason=reason[~ok]))
        invalid = count_invalid_bsn(
            ingestion_quarantine.get(name)
        )  # by reason code, not by its wording
        total = len(spells) + invalid
        rates.append(
            {
                "register": name,
                "rows": total,
                "linked": int(ok.sum()),
                "not_found": int((reason[~ok] == REASON_NOT_FOUND).sum()),
                "unreliable_key": int((reason[~ok] == REASON_UNRELIABLE).sum()),
                "ambiguous_key": int((reason[~ok] == REASON_AMBIGUOUS).sum()),
                "failed_eleven_test": invalid,
                "linkage_rate": round(ok.sum() / total, 4) if total else float("nan"),
                "persons_linked": int(spells.loc[ok, PSEUDONYM_COLUMN].nunique()),
            }
        )
    cols = [
        "gemeente",
        "register",
        PSEUDONYM_COLUMN,
        "RINPERSOON",
        "code",
        "start",
        "end",
        "extract_date",
    ]
    linked = pd.concat(linked_parts, ignore_index=True)[cols]
    quarantine = pd.concat(quarantine_parts, ignore_index=True)
    n_ambiguous = len(ambiguous) if ambiguous_in_key_file is None else ambiguous_in_key_file
    return LinkageResult(linked, quarantine, pd.DataFrame(rates), n_ambiguous)
