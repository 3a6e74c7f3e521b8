import numpy as np
import pandas as pd

from wi_pipeline.lib.bsn import eleven_test, is_valid_bsn, normalise_bsn
from wi_pipeline_tests.helpers import eleven_test_by_hand


def test_known_valid_and_invalid():
    assert eleven_test("111222333")
    assert eleven_test("123456782")
    assert eleven_test("999993653")
    assert not eleven_test("123456789")
    assert not eleven_test("000000000")  # weighted sum 0 is not a BSN
    assert not eleven_test("12345678a")
    assert not eleven_test("1234567")


def test_vectorised_matches_the_eleven_test_digit_by_digit_on_valid_and_invalid_numbers():
    """``is_valid_bsn`` works on the digits of a whole column at once (``eleven_test`` calls it too):
    compare it with the rule done by hand, one number at a time, on every number of a block, random
    numbers over the whole range, and what is not nine ASCII digits."""
    rng = np.random.default_rng(11)
    block = [str(n) for n in range(111_200_000, 111_222_000)]  # every remainder, ~1/11 valid
    spread = [f"{n:09d}" for n in rng.integers(0, 10**9, 20_000)]
    odd = ["000000000", "12345678", "1234567820", "12345678a", " 123456782", "123 456 782", ""]
    values = pd.Series([*block, *spread, *odd, None], dtype=object)
    by_hand = values.map(eleven_test_by_hand)
    assert by_hand.sum() > 3000 and (~by_hand).sum() > 30_000  # both kinds, many of each
    pd.testing.assert_series_equal(is_valid_bsn(values), by_hand, check_names=False)
    assert (
        is_valid_bsn(values.astype("string")).tolist() == by_hand.tolist()
    )  # NA as pandas writes it


def test_digits_outside_ascii_are_invalid_not_an_error():
    """Full-width or Arabic-Indic digits are no BSN: invalid (quarantined), never a crash."""
    values = pd.Series(
        [
            "\uff11\uff12\uff13\uff14\uff15\uff16\uff17\uff18\uff12",
            "\u0661\u0662\u0663\u0664\u0665\u0666\u0667\u0668\u0662",
            "\uff11\uff12\uff13 \uff14\uff15\uff16 \uff17\uff18\uff12",
            "123456782",
        ]
    )
    assert is_valid_bsn(normalise_bsn(values)).tolist() == [False, False, False, True]


def test_eight_digit_numbers_get_leading_zero():
    # 012345672: 0*9+1*8+2*7+3*6+4*5+5*4+6*3+7*2-2 = 110, divisible by 11
    s = normalise_bsn(pd.Series([" 12345672 ", "111222333"]))
    assert s.tolist() == ["012345672", "111222333"]
    assert is_valid_bsn(s).all()


def test_a_bsn_grouped_with_spaces_or_dots_is_read_as_its_digits():
    s = pd.Series(
        [
            "1234 56 782",
            "123.456.782",
            "1234.56.782",
            " 1234 5672 ",
            "1234  56 782",
            "12.34",
            "1234 56 7829",
            "1234-56-782",
            None,
        ]
    )
    assert normalise_bsn(s).tolist()[:4] == ["123456782", "123456782", "123456782", "012345672"]
    assert normalise_bsn(s).tolist()[4:8] == [
        "1234  56 782",
        "12.34",
        "1234 56 7829",
        "1234-56-782",
    ]
    assert is_valid_bsn(normalise_bsn(s)).tolist() == [True] * 4 + [False] * 5
