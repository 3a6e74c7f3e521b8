import pandas as pd

from wi_pipeline.lib.privacy import scan_identifiers


def kinds(findings):
    return sorted((f.column, f.kind) for f in findings)


def test_clean_frame_has_no_findings():
    df = pd.DataFrame({"pseudo_id": ["a" * 32], "wage": [1234.5], "code": ["PW"], "n": [123456789]})
    assert scan_identifiers(df) == []  # 123456789 fails the eleven-test


def test_bsn_hidden_in_free_text_is_found_with_row_count():
    df = pd.DataFrame(
        {"note": ["belt op 999993653 ivm afspraak", "geen", "nr 999993653"], "x": [1, 2, 3]}
    )
    [f] = scan_identifiers(df)
    assert (f.column, f.kind, f.rows) == ("note", "bsn value", 2)


def test_bsn_in_integer_and_categorical_columns():
    df = pd.DataFrame({"n": [111222333, 5], "c": pd.Categorical(["123456782", "x"])})
    assert kinds(scan_identifiers(df)) == [("c", "bsn value"), ("n", "bsn value")]


def test_identifier_columns_and_published_pseudonyms():
    df = pd.DataFrame(
        {"BSN": ["x"], "RINPERSOON": ["000000011"], "pseudo_id": ["a" * 32], "label": ["b" * 32]}
    )
    assert kinds(scan_identifiers(df)) == [("BSN", "bsn column"), ("RINPERSOON", "cbs key column")]
    assert kinds(scan_identifiers(df.drop(columns="BSN"), allow_cbs_keys=True)) == []
    assert kinds(scan_identifiers(df.drop(columns="BSN"), allow_cbs_keys=True, published=True)) == [
        ("RINPERSOON", "cbs key column"),
        ("label", "pseudonym value"),
        ("pseudo_id", "pseudonym column"),
    ]


def test_hashes_with_nine_digits_in_a_row_are_not_bsns():
    pseudo = (
        "ab" + "999993653" + "c" * 21
    )  # a pseudonym-shaped hash containing a valid BSN by chance
    assert scan_identifiers(pd.DataFrame({"pseudo_id": [pseudo]})) == []
    [f] = scan_identifiers(pd.DataFrame({"note": [pseudo + " 999993653"]}))
    assert f.kind == "bsn value"


def test_cbs_job_and_employer_numbers_are_allowed_with_cbs_keys_only():
    df = pd.DataFrame({"SBEID": ["111222333"], "RINPERSOON": ["000000011"]})
    assert scan_identifiers(df, allow_cbs_keys=True) == []
    assert kinds(scan_identifiers(df)) == [("RINPERSOON", "cbs key column"), ("SBEID", "bsn value")]


def test_text_is_shown_without_bsns_or_pseudonyms_but_keeps_extract_names():
    from wi_pipeline.lib.privacy import REDACTED, redact_identifiers

    text = redact_identifiers(
        "GM0599/bijstand/20250201.csv line 3: 999993653 and 12345678, pseudonym " + "ab" * 32
    )
    assert (
        "20250201.csv" in text
        and "999993653" not in text
        and "12345678" not in text
        and "abab" not in text
    )
    assert text.count(REDACTED) == 3


def test_a_bsn_written_in_groups_is_found_and_an_amount_is_not():
    df = pd.DataFrame(
        {
            "note": ["1234.56.782", "x"],
            "spaced": ["123 456 782", "y"],
            "amount": ["1234567.89", "12.345.678,90"],  # one separator, or four groups: not a BSN
        }
    )
    assert kinds(scan_identifiers(df)) == [("note", "bsn value"), ("spaced", "bsn value")]
    as_arrow_text = df.astype(pd.StringDtype("pyarrow"))  # as CBS tables are scanned
    assert kinds(scan_identifiers(as_arrow_text)) == [
        ("note", "bsn value"),
        ("spaced", "bsn value"),
    ]


def test_a_published_table_with_our_64_character_pseudonyms_is_found():
    df = pd.DataFrame({"label": ["ab" * 32, "x"]})
    assert scan_identifiers(df) == []
    [f] = scan_identifiers(df, published=True)
    assert (f.column, f.kind, f.rows) == ("label", "pseudonym value", 1)


def test_identifiers_in_the_index_are_found_as_in_a_column():
    by_person = pd.DataFrame({"wage": [1.0, 2.0]}, index=pd.Index(["123456782", "x"], name="who"))
    assert kinds(scan_identifiers(by_person)) == [("who", "bsn value")]
    unnamed = pd.DataFrame({"wage": [1.0]}, index=["ab" * 32])
    assert kinds(scan_identifiers(unnamed, published=True)) == [("index 0", "pseudonym value")]
    pseudonyms = pd.DataFrame({"wage": [1.0]}, index=pd.Index(["ab" * 32], name="pseudo_id"))
    assert kinds(scan_identifiers(pseudonyms, published=True)) == [
        ("pseudo_id", "pseudonym column")
    ]
    assert scan_identifiers(pd.DataFrame({"wage": [1.0, 2.0]})) == []  # a row count is no key
