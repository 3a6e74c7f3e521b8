import pandas as pd

from wi_pipeline.lib.bsn import eleven_test, is_valid_bsn, normalise_bsn


def test_known_valid_and_invalid():
    assert eleven_test("111222333")
    assert eleven_test("123456782")
    assert eleven_test("999993653")
    assert not eleven_test("123456789")
    assert not eleven_test("000000000")  # weighted sum 0 is not a BSN
    assert not eleven_test("12345678a")
    assert not eleven_test("1234567")


def test_vectorised_matches_scalar_and_handles_na():
    s = pd.Series(["111222333", None, "123456789", "999993653", ""])
    assert is_valid_bsn(s).tolist() == [True, False, False, True, False]


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
