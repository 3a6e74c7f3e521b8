import hashlib
import hmac

import pandas as pd
import pytest

from wi_pipeline.lib.pseudonymise import (
    DEMO_KEY,
    PseudonymisationError,
    PseudonymKey,
    guard_demo_key,
)

SECRET = "s" * 40


def test_is_keyed_hmac_not_plain_hash():
    key = PseudonymKey(SECRET)
    out = key.pseudonymise(pd.Series(["999993653"]))
    expected = hmac.new(SECRET.encode(), b"999993653", hashlib.sha256).hexdigest()[:32]
    assert out.iloc[0] == expected
    assert out.iloc[0] != hashlib.sha256(b"999993653").hexdigest()[:32]


@pytest.mark.parametrize(
    "secret", ["k" * 32, "k" * 64, "k" * 65, "sleutel-" * 20, "géheime-sleutel-" * 3]
)
def test_is_rfc_2104_hmac_sha256_for_keys_shorter_and_longer_than_a_block(secret):
    """The keyed hash states are prepared once per key: a key past SHA-256's 64-byte block is
    hashed first, as RFC 2104 says; the result is the standard library's HMAC, value for value."""
    bsns = pd.Series([f"9999{i:05d}" for i in range(0, 99_999, 997)] + ["", None, "12 34"])
    out = PseudonymKey(secret).pseudonymise(bsns)
    expected = [
        None
        if b is None
        else hmac.new(secret.encode(), b.encode(), hashlib.sha256).hexdigest()[:32]
        for b in bsns
    ]
    assert [None if pd.isna(v) else v for v in out] == expected


def test_deterministic_per_key_and_different_across_keys():
    s = pd.Series(["999993653", "111222333", "999993653", None])
    a = PseudonymKey(SECRET).pseudonymise(s)
    b = PseudonymKey(SECRET).pseudonymise(s)
    c = PseudonymKey("t" * 40).pseudonymise(s)
    assert a.equals(b)
    assert a.iloc[0] == a.iloc[2] and a.iloc[0] != a.iloc[1]
    assert pd.isna(a.iloc[3])
    assert (a.iloc[:3] != c.iloc[:3]).all()


def test_key_never_in_repr_or_error():
    key = PseudonymKey(SECRET)
    assert SECRET not in repr(key) and SECRET not in str(key)
    with pytest.raises(PseudonymisationError) as err:
        PseudonymKey("short-secret")
    assert "short-secret" not in str(err.value)
    assert key.fingerprint == PseudonymKey(SECRET).fingerprint
    assert key.fingerprint != PseudonymKey("t" * 40).fingerprint


def test_demo_key_refused_on_real_looking_bsns():
    demo = PseudonymKey(DEMO_KEY)
    guard_demo_key(demo, pd.Series(["999993653"]), "x.csv")  # synthetic range: fine
    with pytest.raises(PseudonymisationError, match="demo key"):
        guard_demo_key(demo, pd.Series(["999993653", "111222333"]), "x.csv")
    guard_demo_key(PseudonymKey(SECRET), pd.Series(["111222333"]), "x.csv")  # real key: fine
