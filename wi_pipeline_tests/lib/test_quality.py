"""Suites stored as GX JSON: pass on clean data, catch planted faults, never leak identifiers."""

import json
import shutil

import numpy as np
import pandas as pd
import pytest

from wi_pipeline.lib.quality import (
    EXPECTATIONS_DIR,
    REDACTED,
    SuiteError,
    SuiteResult,
    distribution_within,
    load_suite,
    row_count_within,
    run_suite,
)

EXAMPLES = EXPECTATIONS_DIR / "_examples"
SUITE = "bijstand_example"
BSN = "123456782"  # valid eleven-test example from the domain notes
PSEUDONYM = "ab" * 32


@pytest.fixture
def clean() -> pd.DataFrame:
    n = 40
    rng = np.random.default_rng(1)
    return pd.DataFrame(
        {
            "pseudo_id": [f"{i:064x}" for i in range(n)],
            "gemeente": rng.choice(["GM0363", "GM0599", "GM0518", "GM0344"], n),
            "statistiekcode": rng.choice(["01", "02", "03"], n),
            "geslacht": rng.choice(["1", "2"], n),
            "datum_aanvang": pd.Timestamp("2018-01-01")
            + pd.to_timedelta(rng.integers(0, 2000, n), unit="D"),
            "bedrag": rng.uniform(500, 1500, n).round(2),
        }
    )


def _run(df, suite=SUITE, suites_dir=EXAMPLES, **kw) -> SuiteResult:
    return run_suite(df, suite, identifier_columns=["pseudo_id"], suites_dir=suites_dir, **kw)


def _failed_types(result: SuiteResult) -> set[str]:
    return {r.expectation for r in result.failed()}


def test_clean_data_passes(clean):
    result = _run(clean)
    assert result.success, result.to_markdown()
    assert result.failed() == []
    assert result.n_rows == len(clean)
    assert len(result.results) == len(load_suite(SUITE, EXAMPLES).expectations)


def _null_gemeente(df):
    df.loc[3, "gemeente"] = None


def _bad_code(df):
    df.loc[5, "statistiekcode"] = "99"


def _date_out_of_range(df):
    df.loc[7, "datum_aanvang"] = pd.Timestamp("2031-06-01")


def _duplicate_row(df):
    df.loc[9, ["pseudo_id", "datum_aanvang"]] = df.loc[8, ["pseudo_id", "datum_aanvang"]].to_numpy()


@pytest.mark.parametrize(
    ("fault", "expected"),
    [
        (_null_gemeente, "expect_column_values_to_not_be_null"),
        (_bad_code, "expect_column_values_to_be_in_set"),
        (_date_out_of_range, "expect_column_values_to_be_between"),
        (_duplicate_row, "expect_compound_columns_to_be_unique"),
    ],
)
def test_planted_fault_fails(clean, fault, expected):
    fault(clean)
    result = _run(clean)
    assert not result.success
    assert expected in _failed_types(result)
    assert all(r.severity == "error" for r in result.failed())


def test_bad_code_reports_count_and_sample(clean):
    _bad_code(clean)
    [rec] = [r for r in _run(clean).failed() if r.column == "statistiekcode"]
    assert rec.unexpected_count == 1
    assert rec.sample == ["99"]
    assert rec.unexpected_percent == pytest.approx(100 / len(clean))


def test_warn_severity_reports_but_does_not_fail(clean):
    clean.loc[0, "bedrag"] = 99_999.0
    result = _run(clean)
    assert result.success
    [warn] = result.failed()
    assert (warn.severity, warn.column) == ("warn", "bedrag")
    assert result.metadata()["n_failed_warn"] == 1


def test_identifiers_never_in_samples(clean, write_suite):
    clean.loc[[1, 2], "pseudo_id"] = clean.loc[0, "pseudo_id"]  # duplicated identifiers
    clean.loc[3, "statistiekcode"] = BSN  # a BSN typed into a code field
    clean.loc[4, "gemeente"] = PSEUDONYM  # a pseudonym in the wrong column
    clean.loc[5, "geslacht"] = 999993653  # a BSN that arrived as a number
    clean["extra"] = clean["pseudo_id"]
    suite = {
        "name": "ids",
        "expectations": [
            {"type": "expect_column_values_to_be_unique", "kwargs": {"column": "pseudo_id"}},
            {
                "type": "expect_column_value_lengths_to_equal",
                "kwargs": {"column": "pseudo_id", "value": 3},
            },
            {
                "type": "expect_column_values_to_be_in_set",
                "kwargs": {"column": "statistiekcode", "value_set": ["01"]},
            },
            {
                "type": "expect_column_values_to_be_in_set",
                "kwargs": {"column": "gemeente", "value_set": ["GM0363"]},
            },
            {
                "type": "expect_column_values_to_be_in_set",
                "kwargs": {"column": "geslacht", "value_set": ["1", "2"]},
            },
            {
                "type": "expect_column_values_to_be_in_set",
                "kwargs": {"column": "extra", "value_set": ["x"]},
            },
        ],
    }
    result = run_suite(clean, write_suite(suite), identifier_columns=["pseudo_id"])
    assert not result.success
    published = json.dumps(result.metadata()) + result.to_markdown() + result.to_frame().to_string()
    for secret in [BSN, PSEUDONYM, "999993653", *clean["pseudo_id"]]:
        assert secret not in published
    by_col = {r.column: r for r in result.results}
    assert set(by_col["pseudo_id"].sample) == {REDACTED}
    assert REDACTED in by_col["statistiekcode"].sample
    assert (
        "GM0599" in by_col["gemeente"].sample or "GM0518" in by_col["gemeente"].sample
    )  # ordinary codes stay visible


def test_samples_of_identifier_columns_are_redacted_without_naming_them(write_suite):
    """The project's one identifier vocabulary (lib/privacy.py) applies to every suite run: a CBS key
    column by name, and a BSN that lost its leading zero (8 digits) by value."""
    df = pd.DataFrame({"RINPERSOONS": ["R", "X", "Y"], "code": ["01", "12345611", "02"]})
    suite = {
        "name": "vocabulary",
        "expectations": [
            {
                "type": "expect_column_values_to_be_in_set",
                "kwargs": {"column": "RINPERSOONS", "value_set": ["R"]},
            },
            {
                "type": "expect_column_values_to_be_in_set",
                "kwargs": {"column": "code", "value_set": ["01"]},
            },
        ],
    }
    by_col = {r.column: r for r in run_suite(df, write_suite(suite)).results}
    assert set(by_col["RINPERSOONS"].sample) == {REDACTED}
    assert REDACTED in by_col["code"].sample and "02" in by_col["code"].sample
    assert "12345611" not in json.dumps(by_col["code"].to_dict())


@pytest.fixture
def write_suite(tmp_path):
    """Write a suite (dict, or raw text for broken JSON) to the test's folder; returns its path."""

    def write(suite, name=None):
        path = tmp_path / f"{name or suite['name']}.json"
        path.write_text(json.dumps(suite) if isinstance(suite, dict) else suite)
        return path

    return write


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        ('{"name": "x", "expectations": [', "not valid JSON"),
        (
            {
                "name": "x",
                "expectations": [
                    {"type": "expect_column_values_to_be_purple", "kwargs": {"column": "a"}}
                ],
            },
            "unknown expectation type 'expect_column_values_to_be_purple'",
        ),
        (
            {
                "name": "x",
                "expectations": [
                    {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "a"}},
                    {
                        "type": "expect_column_values_to_be_between",
                        "kwargs": {"column": "a", "min_value": "low"},
                    },
                ],
            },
            "expectation #1 (expect_column_values_to_be_between)",
        ),
        (
            {
                "name": "x",
                "expectations": [
                    {
                        "type": "expect_column_values_to_be_in_set",
                        "kwargs": {"column": "a", "valueset": [1]},
                    }
                ],
            },
            "valueset",
        ),
        (
            {
                "name": "x",
                "expectations": [
                    {
                        "expectation_type": "expect_column_values_to_not_be_null",
                        "kwargs": {"column": "a"},
                    }
                ],
            },
            "'type'",
        ),
        (
            {
                "name": "x",
                "expectations": [
                    {
                        "type": "expect_column_values_to_not_be_null",
                        "kwargs": {"column": "a"},
                        "meta": {"severity": "fatal"},
                    }
                ],
            },
            "meta.severity",
        ),
    ],
    ids=[
        "bad-json",
        "unknown-type",
        "bad-kwargs-value",
        "bad-kwargs-name",
        "pre-1.0-key",
        "bad-severity",
    ],
)
def test_malformed_suite_raises_suite_error_naming_file(content, fragment, write_suite):
    path = write_suite(content, "broken")
    with pytest.raises(SuiteError) as err:
        load_suite(path)
    assert str(path) in str(err.value)
    assert fragment in str(err.value)
    assert "Traceback" not in str(err.value)
    with pytest.raises(SuiteError):
        run_suite(pd.DataFrame({"a": [1]}), path)


def test_missing_suite_file(tmp_path):
    with pytest.raises(SuiteError, match="not found") as err:
        run_suite(pd.DataFrame({"a": [1]}), "no_such_suite", suites_dir=tmp_path)
    assert str(tmp_path / "no_such_suite.json") in str(err.value)


def test_editing_the_json_changes_the_result(clean, tmp_path):
    shutil.copy(EXAMPLES / f"{SUITE}.json", tmp_path / f"{SUITE}.json")
    assert _run(clean, suites_dir=tmp_path).success
    raw = json.loads((tmp_path / f"{SUITE}.json").read_text())
    for exp in raw["expectations"]:
        if exp["kwargs"].get("column") == "statistiekcode":
            exp["kwargs"]["value_set"] = ["01"]  # IOAW and IOAZ no longer allowed
    (tmp_path / f"{SUITE}.json").write_text(json.dumps(raw))
    result = _run(clean, suites_dir=tmp_path)
    assert not result.success
    assert {r.column for r in result.failed()} == {"statistiekcode"}


def test_cached_context_does_not_mix_up_frames(clean):
    small = clean.head(5).copy()
    small.loc[0, "geslacht"] = "-"
    first, second, third = _run(clean), _run(small), _run(clean)
    assert first.success and third.success and not second.success
    assert second.n_rows == 5
    rows = [r for r in second.results if r.expectation == "expect_table_row_count_to_be_between"]
    assert rows[0].observed == 5


def test_missing_column_is_a_failed_record_not_a_crash(clean):
    result = _run(clean.drop(columns=["geslacht"]))
    assert not result.success
    [rec] = [r for r in result.failed() if r.column == "geslacht"]
    assert rec.note and "geslacht" in rec.note


def test_gx_native_severity_is_honoured(clean, write_suite):
    path = write_suite(
        {
            "name": "native",
            "expectations": [
                {
                    "type": "expect_column_values_to_be_in_set",
                    "kwargs": {"column": "geslacht", "value_set": ["1"]},
                    "severity": "warning",
                }
            ],
        }
    )
    result = run_suite(clean, path)
    assert result.success and result.failed()[0].severity == "warn"


def test_plain_pandas_checks_merge_into_result(clean):
    base = _run(clean)
    assert row_count_within(100, 120).success
    assert not row_count_within(40, 120).success
    assert row_count_within(40, None).success  # first extract: nothing to compare with
    near = distribution_within(0.21, 0.20, 0.05, "share single parents")
    far = distribution_within(0.45, 0.20, 0.05, "share single parents")
    assert near.success and not far.success and far.severity == "warn"
    merged = base.with_checks(near, far)
    assert merged.success  # a warn does not block
    blocked = merged.with_checks(row_count_within(40, 120))
    assert not blocked.success and base.success
    meta = blocked.metadata()
    json.dumps(meta)
    assert meta["n_checks"] == len(base.results) + 3
    assert "row_count_within" in blocked.to_markdown()
    assert list(blocked.to_frame().columns)[:4] == ["expectation", "column", "severity", "success"]


def test_numbers_gx_would_walk_value_by_value_reach_it_as_float64_with_the_same_verdicts(
    write_suite,
):
    from wi_pipeline.lib.quality import _numbers_as_float64

    frame = pd.DataFrame(
        {
            "age": pd.array([30, None, 130, 40], dtype="Int16"),
            "share": np.array([0.5, 1.5, np.nan, 1.0], dtype="float32"),
            "n_children": np.array([0, 1, 2, 3], dtype="int64"),
            "employed": [True, False, True, False],
            "code": ["01", "02", "03", "04"],
        }
    )
    as_gx_gets_it = _numbers_as_float64(frame).dtypes.astype(str).to_dict()
    assert as_gx_gets_it == {
        "age": "float64",
        "share": "float64",
        "n_children": "int64",
        "employed": "bool",
        "code": frame["code"].dtype.name,
    }
    between = "expect_column_values_to_be_between"
    suite = {
        "name": "ranges",
        "expectations": [
            {"type": between, "kwargs": {"column": "age", "min_value": 0, "max_value": 120}},
            {"type": between, "kwargs": {"column": "share", "min_value": 0, "max_value": 1}},
        ],
    }
    by_col = {r.column: r for r in run_suite(frame, write_suite(suite)).results}
    assert (by_col["age"].unexpected_count, by_col["age"].sample) == (1, [130])  # not 130.0
    assert (by_col["share"].unexpected_count, by_col["share"].sample) == (1, [1.5])


def test_a_row_condition_is_judged_on_a_frame_of_its_own_columns_and_counts_as_on_the_whole(
    write_suite,
):
    from wi_pipeline.lib.quality import _column_groups

    frame = pd.DataFrame(
        {
            "on_bijstand": [True, False, False, True, False],
            "exemption_9a": [True, True, False, False, True],
            "age group": ["young", "old", "young", "young", "young"],
            "wage": [0.0, 10.0, 20.0, 30.0, 40.0],
            "unrelated": ["a", "b", "c", "d", "e"],
        }
    )
    suite = {
        "name": "conditions",
        "expectations": [
            {
                "type": "expect_column_values_to_be_in_set",
                "kwargs": {
                    "column": "on_bijstand",
                    "value_set": [True],
                    "row_condition": "exemption_9a==True",
                    "condition_parser": "pandas",
                },
            },
            {
                "type": "expect_column_values_to_be_between",
                "kwargs": {
                    "column": "wage",
                    "max_value": 25,
                    "row_condition": "`age group` == 'young' and on_bijstand == False",
                    "condition_parser": "pandas",
                },
            },
        ],
    }
    path = write_suite(suite)
    groups = _column_groups(load_suite(path), frame)
    assert set(groups) == {
        ("exemption_9a", "on_bijstand"),
        ("age group", "on_bijstand", "wage"),
    }  # not the whole frame
    by_col = {r.column: r for r in run_suite(frame, path).results}
    assert (by_col["on_bijstand"].unexpected_count, by_col["on_bijstand"].sample) == (2, [False])
    assert (by_col["wage"].unexpected_count, by_col["wage"].sample) == (1, [40.0])
