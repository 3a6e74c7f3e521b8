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
