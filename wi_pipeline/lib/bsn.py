"""The BSN (burgerservicenummer) and its eleven-test.

A BSN is 9 digits; older 8-digit numbers get a leading zero. The eleven-test
(9*d1 + 8*d2 + ... + 2*d8 - 1*d9 divisible by 11 and not 0) catches most typing errors, so an
extract row whose BSN fails it cannot be linked and is quarantined rather than guessed at.

A BSN written in groups, with spaces or dots ("1234 56 782", "1234.56.782", the way it is printed on
documents), is read as its digits before the eleven-test: the separators carry no digit, and the
eleven-test still catches a mistyped one. Anything else that is not 8 or 9 digits stays as given.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

# arrow-backed text: the key file holds 24 million BSNs, matched and cleaned by arrow's kernels
from wi_pipeline.lib.datasets import ARROW_TEXT

_WEIGHTS = np.array([9, 8, 7, 6, 5, 4, 3, 2, -1])
SYNTHETIC_BSN_PREFIX = "9999"  # test range: never a real person


# ASCII digits in groups separated by single spaces or dots, 8 or 9 digits in all ([0-9]: \d
# also takes other scripts' digits, which no BSN holds)
_GROUPED = r"[0-9]+(?:[ .][0-9]+)+"


def written_with_separators(values: pd.Series) -> pd.Series:
    """True where a BSN is written in groups with spaces or dots and is 8 or 9 digits without them."""
    s = values.astype(ARROW_TEXT).str.strip()
    grouped = s.str.fullmatch(_GROUPED).fillna(False).astype(bool)
    return grouped & s.str.replace(r"[ .]", "", regex=True).str.len().isin([8, 9]).fillna(
        False
    ).astype(bool)


def normalise_bsn(values: pd.Series) -> pd.Series:
    """Strip blanks, drop the spaces or dots of a grouped BSN, and restore the leading zero of 8-digit
    numbers; anything else stays as given."""
    s = values.astype(ARROW_TEXT).str.strip()
    s = s.mask(written_with_separators(s), s.str.replace(r"[ .]", "", regex=True))
    return s.where(s.str.len() != 8, "0" + s)


def is_valid_bsn(values: pd.Series) -> pd.Series:
    """Vectorised eleven-test on already normalised BSN strings; NA and non-digits are invalid."""
    s = values.astype(ARROW_TEXT)
    well_formed = s.str.fullmatch(r"[0-9]{9}").fillna(False).astype(bool)
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
