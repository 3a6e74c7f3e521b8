"""Keyed pseudonymisation of BSNs (HMAC-SHA256).

Only about 9*10^7 BSNs pass the eleven-test, so a plain hash is reversed by trying them all; a keyed
hash is not, as long as the key stays out of the data, the code and the logs. One key per project
means extracts of different projects cannot be joined.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from wi_pipeline.lib.bsn import SYNTHETIC_BSN_PREFIX
from wi_pipeline.lib.datasets import ARROW_TEXT

KEY_ENV_VAR = "WI_PSEUDONYM_KEY"
# Public on purpose: it protects nothing and is accepted only for synthetic (9999-range) BSNs.
DEMO_KEY = "wi-pipeline-demo-key-synthetic-data-only"
PSEUDONYM_COLUMN = "pseudo_id"
_FINGERPRINT_LABEL = b"wi_pipeline key fingerprint v1"
_MIN_KEY_LENGTH = 32


class PseudonymisationError(Exception):
    """Raised when pseudonymisation would be unsafe; the message never contains the key."""


class KeyMismatchError(PseudonymisationError):
    """The key in use is not the one the warehouse was built with; nothing may be written."""


class PseudonymKey:
    """A secret key that cannot leak through repr, str or an exception message."""

    __slots__ = ("_secret", "is_demo", "_inner", "_outer")

    def __init__(self, secret: str):
        if not secret:
            raise PseudonymisationError(f"the pseudonymisation key is empty; set {KEY_ENV_VAR}")
        self._secret = secret.encode("utf-8")
        self.is_demo = secret == DEMO_KEY
        self._inner, self._outer = _hmac_states(self._secret)
        if not self.is_demo and len(self._secret) < _MIN_KEY_LENGTH:
            raise PseudonymisationError(
                f"the pseudonymisation key in {KEY_ENV_VAR} is shorter than {_MIN_KEY_LENGTH} characters"
            )

    def __repr__(self) -> str:
        return f"PseudonymKey(fingerprint={self.fingerprint}{', demo' if self.is_demo else ''})"

    __str__ = __repr__

    @property
    def fingerprint(self) -> str:
        """Identifies the key without revealing it, so outputs made with different keys are never mixed."""
        return hmac.new(self._secret, _FINGERPRINT_LABEL, hashlib.sha256).hexdigest()[:12]

    def pseudonymise(self, bsn: pd.Series) -> pd.Series:
        """HMAC-SHA256 of each BSN, its first 128 bits in hex; each distinct BSN hashed once."""
        codes, uniques = pd.factorize(bsn.astype(ARROW_TEXT), use_na_sentinel=True)
        inner, outer = self._inner, self._outer

        def digest(bsn: str) -> bytes:
            i = inner.copy()
            i.update(bsn.encode("ascii"))
            o = outer.copy()
            o.update(i.digest())
            return o.digest()[:16]

        hexed = b"".join(digest(u) for u in uniques.tolist()).hex().encode("ascii")
        n = len(uniques)
        offsets = pa.py_buffer(np.arange(0, 32 * (n + 1), 32, dtype=np.int32).tobytes())
        hashed = pa.StringArray.from_buffers(n, offsets, pa.py_buffer(hexed))  # 32 hex digits each
        values = pd.array(hashed, dtype=ARROW_TEXT).take(codes, allow_fill=True)
        return pd.Series(values, index=bsn.index)


def _hmac_states(secret: bytes) -> tuple:
    """HMAC-SHA256 (RFC 2104) with its two keyed hash states made once: copying them per value is
    three times faster than ``hmac.new`` or ``hmac.digest``, which set up OpenSSL each call."""
    block = 64  # SHA-256's block size
    key = hashlib.sha256(secret).digest() if len(secret) > block else secret
    key = key.ljust(block, b"\0")
    return (
        hashlib.sha256(bytes(b ^ 0x36 for b in key)),
        hashlib.sha256(bytes(b ^ 0x5C for b in key)),
    )


def key_from_environment(value: str | None = None) -> PseudonymKey:
    """The project key from the environment, or the demo key when none is set."""
    secret = value if value is not None else os.environ.get(KEY_ENV_VAR)
    return PseudonymKey(secret or DEMO_KEY)


def guard_demo_key(key: PseudonymKey, bsn: pd.Series, source: str) -> None:
    """The demo key is public: refuse it for anything that may be real personal data."""
    if not key.is_demo:
        return
    real = ~bsn.astype("string").str.startswith(SYNTHETIC_BSN_PREFIX).fillna(True)
    if real.any():
        raise PseudonymisationError(
            f"{source}: {int(real.sum())} BSN(s) lie outside the synthetic test range "
            f"{SYNTHETIC_BSN_PREFIX}xxxxx, so this looks like real data, and the built-in demo key "
            f"may only be used on synthetic data. Set {KEY_ENV_VAR} to the project's secret key "
            "(at least 32 characters) and run again."
        )


# The fingerprint of the key a warehouse's pseudonyms were made with, written at the first write into it.
WAREHOUSE_KEY_FILE = "key_fingerprint.json"


def _demo_fingerprint() -> str:
    return PseudonymKey(DEMO_KEY).fingerprint


def describe_fingerprint(fingerprint: str) -> str:
    return (
        f"{fingerprint} (the built-in demo key)"
        if fingerprint == _demo_fingerprint()
        else fingerprint
    )


def warehouse_fingerprint(warehouse: Path) -> str | None:
    """The fingerprint recorded in ``warehouse`` (None before its first pseudonymised output)."""
    path = Path(warehouse) / WAREHOUSE_KEY_FILE
    return json.loads(path.read_text(encoding="utf-8"))["fingerprint"] if path.exists() else None


def warehouse_is_demo(warehouse: Path) -> bool | None:
    """Whether the warehouse was built with the demo key (None when no key is recorded yet)."""
    recorded = warehouse_fingerprint(warehouse)
    return None if recorded is None else recorded == _demo_fingerprint()


def check_warehouse_key(warehouse: Path, fingerprint: str | None) -> None:
    """Refuse a key other than the warehouse's: pseudonyms of two keys never match, so mixing them in one
    warehouse silently breaks linkage and the history. The message names fingerprints, never the key."""
    recorded = warehouse_fingerprint(warehouse)
    if recorded is None or fingerprint is None or fingerprint == recorded:
        return
    now = (
        f"the built-in demo key {fingerprint}, because {KEY_ENV_VAR} is not set"
        if fingerprint == _demo_fingerprint()
        else f"key {fingerprint} from {KEY_ENV_VAR}"
    )
    raise KeyMismatchError(
        f"the warehouse {warehouse} was built with key {describe_fingerprint(recorded)} "
        f"(its {WAREHOUSE_KEY_FILE}), but this process has {now}; nothing was written. Set {KEY_ENV_VAR} "
        "to the key this warehouse was built with, or point WI_WAREHOUSE_DIR at a warehouse of its own for "
        "this key, or, to move this warehouse to the new key, rebuild it from the extracts "
        "(`make clean run`, see 'Rotating the key')"
    )


def record_warehouse_key(warehouse: Path, fingerprint: str) -> None:
    """Check ``fingerprint`` against the warehouse and record it at the first write."""
    check_warehouse_key(warehouse, fingerprint)
    path = Path(warehouse) / WAREHOUSE_KEY_FILE
    if path.exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(
        json.dumps(
            {
                "fingerprint": fingerprint,
                "demo_key": fingerprint == _demo_fingerprint(),
                "recorded": date.today().isoformat(),
            },
            indent=1,
        ),
        encoding="utf-8",
    )
    os.replace(tmp, path)
