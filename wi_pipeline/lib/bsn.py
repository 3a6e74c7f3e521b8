"""The BSN (burgerservicenummer) and its eleven-test.

A BSN is 9 digits; older 8-digit numbers get a leading zero. The eleven-test
(9*d1 + 8*d2 + ... + 2*d8 - 1*d9 divisible by 11 and not 0) catches most typing errors, so an
extract row whose BSN fails it cannot be linked and is quarantined rather than guessed at.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

_WEIGHTS = np.array([9, 8, 7, 6, 5, 4, 3, 2, -1])
SYNTHETIC_BSN_PREFIX = "9999"  # test range: never a real person


def normalise_bsn(values: pd.Series) -> pd.Series:
    """Strip blanks and restore the leading zero of 8-digit numbers; anything else stays as given."""
    s = values.astype("string").str.strip()
    return s.where(s.str.len() != 8, "0" + s)


def is_valid_bsn(values: pd.Series) -> pd.Series:
    """Vectorised eleven-test on already normalised BSN strings; NA and non-digits are invalid."""
    s = values.astype("string")
    well_formed = s.str.fullmatch(r"\d{9}").fillna(False).astype(bool)
    out = pd.Series(False, index=values.index)
    if well_formed.any():
        digits = np.frombuffer(
            "".join(s[well_formed].tolist()).encode("ascii"), dtype=np.uint8
        ).reshape(-1, 9) - ord("0")
        total = digits.astype(np.int64) @ _WEIGHTS
        out[well_formed] = (total % 11 == 0) & (total != 0)
    return out


def eleven_test(bsn: str) -> bool:
    return bool(is_valid_bsn(pd.Series([bsn])).iloc[0])
