"""Run Great Expectations 1.x suites, stored as JSON under ``expectations/``, on a pandas DataFrame.

Suites are plain GX 1.x ExpectationSuite JSON so a data engineer can edit them (and the GX docs
apply) without touching code. One project-specific key is read from each expectation's ``meta``:
``severity`` = ``"error"`` (default; a failure blocks the asset) or ``"warn"`` (only reported).
GX's own top-level ``severity`` ("critical" / "warning" / "info") is honoured when ``meta.severity``
is absent. A date-only bound such as ``"min_value": "2015-01-01"`` is read as midnight so it
compares with datetime64 columns.

    {"name": "bijstand", "meta": {},
     "expectations": [
       {"type": "expect_column_values_to_be_in_set",
        "kwargs": {"column": "statistiekcode", "value_set": ["01", "02", "03"]},
        "meta": {"severity": "error"}}]}

Privacy: failure samples go to the Dagster UI and logs, so identifiers must never appear in them.
Samples of expectations on an identifier column (``privacy.is_identifier_column``, plus any named
by the caller), and any sampled value that looks like a BSN / RINPERSOON or a pseudonym
(``privacy.looks_like_identifier``), are replaced by ``"<redacted>"``.

This module has no Dagster import; the asset checks wire ``SuiteResult.metadata()`` and
``to_markdown()`` into Dagster.
"""

from __future__ import annotations

import os

# Must be set before GX is imported: GX decides on usage statistics at import/context time.
os.environ["GX_ANALYTICS_ENABLED"] = "false"

import json
import logging
import math
import re
import threading
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import great_expectations as gx
import numpy as np
import pandas as pd
import pyarrow.dataset as ds
from great_expectations.data_context.types.base import ProgressBarsConfig
from great_expectations.execution_engine import (
    pandas_execution_engine as _pandas_engine,
)
from great_expectations.expectations.expectation import (
    ColumnMapExpectation,
    ColumnPairMapExpectation,
    MulticolumnMapExpectation,
    _mostly_success,
)
from great_expectations.expectations.expectation_configuration import (
    ExpectationConfiguration,
)
from great_expectations.validator.v1_validator import Validator

from wi_pipeline.lib.datasets import BATCH_ROWS
from wi_pipeline.lib.privacy import REDACTED, is_identifier_column, looks_like_identifier

for _name in ("great_expectations", "great_expectations.core", "great_expectations.validator"):
    logging.getLogger(_name).setLevel(logging.ERROR)

EXPECTATIONS_DIR = Path(__file__).resolve().parents[2] / "expectations"

SEVERITIES = ("error", "warn")
PARTIAL_UNEXPECTED_COUNT = 5
RESULT_FORMAT = {
    "result_format": "SUMMARY",
    "partial_unexpected_count": PARTIAL_UNEXPECTED_COUNT,
    "include_unexpected_rows": False,
}

_SUITE_KEYS = {"name", "id", "expectations", "suite_parameters", "meta", "notes"}
_EXPECTATION_KEYS = {
    "type",
    "kwargs",
    "meta",
    "notes",
    "description",
    "severity",
    "id",
    "rendered_content",
}
_GX_SEVERITY = {"critical": "error", "warning": "warn", "info": "warn"}
_SEVERITY_ALIASES = {"error": "error", "warn": "warn", "warning": "warn"}
_DATE_ONLY = re.compile(r"\d{4}-\d{2}-\d{2}")


class SuiteError(ValueError):
    """A suite file that cannot be used: missing, not JSON, or not a valid GX 1.x suite."""


# ---------------------------------------------------------------------------------------------
# Records and results
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CheckRecord:
    """One checked rule, from GX or from a plain-pandas helper; every field is JSON-able."""

    expectation: str
    column: str | None
    severity: str
    success: bool
    unexpected_count: int | None = None
    unexpected_percent: float | None = None
    sample: list[Any] = field(default_factory=list)
    observed: Any = None
    note: str | None = None

    @property
    def blocking(self) -> bool:
        return not self.success and self.severity == "error"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class SuiteResult:
    """Outcome of one suite run; ``success`` is False only when an error-severity check failed."""

    suite_name: str
    n_rows: int
    results: list[CheckRecord] = field(default_factory=list)

    @property
    def success(self) -> bool:
        return not any(r.blocking for r in self.results)

    def failed(self, severity: str | None = None) -> list[CheckRecord]:
        return [
            r
            for r in self.results
            if not r.success and (severity is None or r.severity == severity)
        ]

    def with_checks(self, *records: CheckRecord) -> SuiteResult:
        """Merge plain-pandas checks (row counts, cross-G4 distributions) into this result."""
        return replace(self, results=[*self.results, *records])

    def to_frame(self) -> pd.DataFrame:
        cols = list(CheckRecord.__dataclass_fields__)
        return pd.DataFrame([r.to_dict() for r in self.results], columns=cols)

    def to_markdown(self) -> str:
        """A small table for the Dagster UI, failures first."""
        head = (
            f"**{self.suite_name}**: {'passed' if self.success else 'FAILED'} "
            f"({len(self.results)} checks, {len(self.failed('error'))} blocking, "
            f"{len(self.failed('warn'))} warnings, {self.n_rows} rows)\n\n"
        )
        rows = sorted(self.results, key=lambda r: (r.success, r.severity != "error"))
        lines = [
            "| status | severity | expectation | column | unexpected | % | sample / note |",
            "|---|---|---|---|---|---|---|",
        ]
        for r in rows:
            pct = "" if r.unexpected_percent is None else f"{r.unexpected_percent:.4g}"
            detail = r.note or ", ".join(map(str, r.sample))
            if r.observed is not None and not r.note:
                detail = f"observed {r.observed}" + (f"; {detail}" if detail else "")
            cells = [
                "ok" if r.success else "FAIL",
                r.severity,
                r.expectation,
                r.column or "",
                "" if r.unexpected_count is None else str(r.unexpected_count),
                pct,
                detail,
            ]
            lines.append("| " + " | ".join(_md_cell(c) for c in cells) + " |")
        return head + "\n".join(lines)

    def metadata(self) -> dict[str, Any]:
        """Plain JSON-able summary for asset-check metadata."""
        return {
            "suite": self.suite_name,
            "success": self.success,
            "n_rows": int(self.n_rows),
            "n_checks": len(self.results),
            "n_failed_error": len(self.failed("error")),
            "n_failed_warn": len(self.failed("warn")),
            "failed": [
                f"{r.severity}: {r.expectation}" + (f" on {r.column}" if r.column else "")
                for r in self.failed()
            ],
            "results": [r.to_dict() for r in self.results],
        }


def _md_cell(value: Any) -> str:
    text = str(value).replace("|", "\\|").replace("\n", " ")
    return text if len(text) <= 120 else text[:117] + "..."


# ---------------------------------------------------------------------------------------------
# Loading suites
# ---------------------------------------------------------------------------------------------


def suite_path(
    name_or_path: str | os.PathLike, suites_dir: str | os.PathLike | None = None
) -> Path:
    """A bare name means ``<suites_dir>/<name>.json``; anything with a suffix or a slash is a path.

    Without ``suites_dir``: ``WI_EXPECTATIONS_DIR`` when set (a site's own suites), else ``expectations/``.
    """
    text = str(name_or_path)
    if isinstance(name_or_path, Path) or text.endswith(".json") or "/" in text or os.sep in text:
        return Path(name_or_path)
    return (
        Path(suites_dir or os.environ.get("WI_EXPECTATIONS_DIR") or EXPECTATIONS_DIR)
        / f"{text}.json"
    )


def load_suite(
    name_or_path: str | os.PathLike, suites_dir: str | os.PathLike | None = None
) -> gx.ExpectationSuite:
    """Read and validate a suite file; every problem becomes a SuiteError naming the file."""
    path = suite_path(name_or_path, suites_dir)
    if not path.is_file():
        raise SuiteError(f"{path}: suite file not found")
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise SuiteError(f"{path}: not valid JSON ({e})") from None
    if not isinstance(raw, dict):
        raise SuiteError(f"{path}: top level must be a JSON object with 'name' and 'expectations'")
    unknown = set(raw) - _SUITE_KEYS
    if unknown:
        raise SuiteError(
            f"{path}: unknown top-level keys {sorted(unknown)}; allowed: {sorted(_SUITE_KEYS)}"
        )
    entries = raw.get("expectations")
    if not isinstance(entries, list):
        raise SuiteError(f"{path}: 'expectations' must be a list")

    configs = [_expectation_config(path, i, entry) for i, entry in enumerate(entries)]
    ids = [c.id for c in configs]
    if len(set(ids)) != len(ids):
        raise SuiteError(f"{path}: expectation ids must be unique")
    try:
        suite = gx.ExpectationSuite(
            name=str(raw.get("name") or path.stem),
            expectations=configs,
            suite_parameters=raw.get("suite_parameters"),
            meta=raw.get("meta") or {},
            notes=raw.get("notes"),
            id=raw.get("id"),
        )
    except Exception as e:  # anything GX rejects at suite level
        raise SuiteError(f"{path}: invalid suite: {_first_line(e)}") from None
    if len(suite.expectations) != len(configs):  # GX logs and drops invalid ones; we refuse instead
        raise SuiteError(
            f"{path}: GX dropped {len(configs) - len(suite.expectations)} expectation(s)"
        )
    return suite


def _expectation_config(path: Path, i: int, entry: Any) -> ExpectationConfiguration:
    where = f"{path}: expectation #{i}"
    if not isinstance(entry, dict):
        raise SuiteError(f"{where}: must be a JSON object")
    etype = entry.get("type")
    if "expectation_type" in entry and etype is None:
        raise SuiteError(
            f"{where}: uses the pre-1.0 key 'expectation_type'; GX 1.x calls it 'type'"
        )
    if not isinstance(etype, str) or not etype:
        raise SuiteError(f"{where}: missing 'type'")
    where = f"{where} ({etype})"
    unknown = set(entry) - _EXPECTATION_KEYS
    if unknown:
        raise SuiteError(
            f"{where}: unknown keys {sorted(unknown)}; put project settings under 'meta'"
        )
    kwargs = entry.get("kwargs", {})
    meta = entry.get("meta") or {}
    if not isinstance(kwargs, dict) or not isinstance(meta, dict):
        raise SuiteError(f"{where}: 'kwargs' and 'meta' must be JSON objects")
    severity = meta.get("severity")
    if severity is not None and str(severity).lower() not in _SEVERITY_ALIASES:
        raise SuiteError(f"{where}: meta.severity must be one of {SEVERITIES}, got {severity!r}")
    kwargs = {
        k: _datetime_bound(v) if k in ("min_value", "max_value") else v for k, v in kwargs.items()
    }
    spec = {k: v for k, v in entry.items() if k != "kwargs"}
    # A stable id ties each GX result back to its expectation (GX reorders results).
    spec.setdefault("id", str(uuid.uuid5(uuid.NAMESPACE_URL, f"wi_pipeline:{path.name}#{i}")))
    try:
        config = ExpectationConfiguration(**{**spec, "kwargs": kwargs})
        config.to_domain_obj()  # validates type and kwargs
    except Exception as e:
        if type(e).__name__ == "ExpectationNotFoundError":
            raise SuiteError(f"{where}: unknown expectation type {etype!r}") from None
        msg = _pydantic_errors(e) or str(getattr(e, "message", "") or e)
        raise SuiteError(f"{where}: invalid kwargs or settings: {_compact(msg)}") from None
    return config


def _datetime_bound(value: Any) -> Any:
    """'2015-01-01' -> '2015-01-01T00:00:00'.

    GX parses a date-only bound into a ``datetime.date``, which pandas cannot compare with a
    datetime64 column (every row errors); a midnight datetime compares as intended.
    """
    if isinstance(value, str) and _DATE_ONLY.fullmatch(value.strip()):
        return value.strip() + "T00:00:00"
    return value


def _pydantic_errors(e: BaseException) -> str | None:
    """'min_value: value is not a valid float; ...' from a pydantic ValidationError."""
    errors = getattr(e, "errors", None)
    if not callable(errors):
        return None
    try:
        items = [f"{'.'.join(map(str, err.get('loc', ())))}: {err.get('msg')}" for err in errors()]
    except Exception:
        return None
    return "; ".join(dict.fromkeys(items)) or None


def _first_line(e: BaseException) -> str:
    return (str(e).strip().splitlines() or [type(e).__name__])[0]


def _compact(msg: str) -> str:
    return " ".join(msg.split())


def expectation_severity(config: ExpectationConfiguration) -> str:
    """ "error" or "warn": ``meta.severity`` first, then GX's own severity ("critical" is an error)."""
    meta_sev = (config.meta or {}).get("severity")
    if meta_sev is not None:
        return _SEVERITY_ALIASES[str(meta_sev).lower()]
    gx_sev = getattr(config.severity, "value", config.severity)
    return _GX_SEVERITY.get(str(gx_sev).lower(), "error")


# ---------------------------------------------------------------------------------------------
# Running suites
# ---------------------------------------------------------------------------------------------

_GX_LOCK = threading.Lock()
_GX_STATE: dict[str, Any] = {}


def _batch_definition():
    """One ephemeral context, pandas datasource and whole-frame batch definition per process.

    Building them costs ~30 ms per call; the lock keeps concurrent asset checks in one process
    from sharing the datasource's execution engine mid-run.
    """
    if "batch_definition" not in _GX_STATE:
        # GX fingerprints each batch (a full hash of the frame, for batch markers we never read)
        # unless the frame exceeds HASH_THRESHOLD bytes; that was a third of a 1M-row run.
        if hasattr(_pandas_engine, "HASH_THRESHOLD"):
            _pandas_engine.HASH_THRESHOLD = 0
        context = gx.get_context(mode="ephemeral")
        context.variables.progress_bars = ProgressBarsConfig(
            globally=False, metric_calculations=False
        )
        asset = context.data_sources.add_pandas("wi_pipeline").add_dataframe_asset("frame")
        _GX_STATE["context"] = context
        _GX_STATE["batch_definition"] = asset.add_batch_definition_whole_dataframe("whole_frame")
    return _GX_STATE["batch_definition"]


def run_suite(
    df: pd.DataFrame,
    suite_name: str | os.PathLike,
    *,
    identifier_columns: Iterable[str] = (),
    suites_dir: str | os.PathLike | None = None,
) -> SuiteResult:
    """Validate ``df`` against the suite file; the file is re-read on every call so edits apply."""
    suite = load_suite(suite_name, suites_dir)
    id_cols = set(identifier_columns)
    by_id = _validate(df, suite.name, [e.configuration for e in suite.expectations])
    records = _suite_records([e.configuration for e in suite.expectations], by_id, id_cols)
    return SuiteResult(suite_name=suite.name, n_rows=len(df), results=records)


def _suite_records(
    configs: list, results: dict[str, Any], id_cols: set[str], notes: dict[str, str] | None = None
) -> list[CheckRecord]:
    """One record per expectation: GX's result, or a failed record saying why there is none."""
    notes = notes or {}
    records = []
    for c in configs:
        if c.id in notes or c.id not in results:
            note = notes.get(c.id, "no result from GX")
            records.append(
                CheckRecord(c.type, _columns(c.kwargs), expectation_severity(c), False, note=note)
            )
        else:
            records.append(_record(c, results[c.id], id_cols))
    return records


def _validate(df: pd.DataFrame, name: str, configs: list) -> dict[str, Any]:
    """GX's result per expectation id, validating each column group on its own narrow frame."""
    by_id: dict[str, Any] = {}
    suite = gx.ExpectationSuite(name=name, expectations=configs)
    for cols, group in _column_groups(suite, df).items():
        # a narrow frame of its own columns: selecting from the wide frame would first merge
        # all of its same-typed columns into one block (most of the panel suite's time)
        frame = df if cols is None else _numbers_as_float64(pd.DataFrame({c: df[c] for c in cols}))
        part = gx.ExpectationSuite(name=name, expectations=group)
        with _GX_LOCK:
            # The Validator that ValidationDefinition.run uses, without its result store (which
            # would grow in a cached context) and loading the frame once (Batch.validate loads it
            # twice, and each load fingerprints the whole frame).
            validator = Validator(
                batch_definition=_batch_definition(),
                batch_parameters={"dataframe": frame},
                result_format=RESULT_FORMAT,
            )
            validation = validator.validate_expectation_suite(part)
        by_id.update({r.expectation_config.id: r for r in validation.results})
    return by_id


_COLUMN_PREFIXES = (
    "expect_column",
    "expect_compound_columns",
    "expect_multicolumn",
    "expect_select_column",
)


def _referenced_columns(kwargs: dict, present: Iterable[str] = ()) -> list[str]:
    """The columns an expectation reads; with ``present``, also those its row condition names
    (a pandas query: every name in it that is a column, a quoted one included)."""
    cols = [kwargs[k] for k in ("column", "column_A", "column_B") if k in kwargs]
    cols += list(kwargs.get("column_list") or [])
    condition = _pandas_condition(kwargs)
    if condition and present:
        names = set(re.findall(r"`([^`]+)`|([A-Za-z_]\w*)", condition))
        cols += [c for c in present if (c, "") in names or ("", c) in names]
    return cols


def _pandas_condition(kwargs: dict) -> str | None:
    """The text of a pandas-query row condition (GX 1.x keeps it as a pass-through filter)."""
    condition = kwargs.get("row_condition")
    if isinstance(condition, dict) and condition.get("type") == "pass_through":
        condition = condition.get("pass_through_filter")
    pandas = kwargs.get("condition_parser") == "pandas"
    return condition if pandas and isinstance(condition, str) else None


def _column_groups(
    suite: gx.ExpectationSuite, df: pd.DataFrame
) -> dict[tuple[str, ...] | None, list]:
    """Expectation configs grouped by the columns they read; None = needs the whole frame.

    GX's pandas engine filters the whole batch frame row-wise for every column metric, so
    validating each column set on its own narrow frame is several times faster on wide data.
    Table-level expectations, row conditions other than a pandas query and missing columns
    (GX itself reports those) get the whole frame.
    """
    groups: dict[tuple[str, ...] | None, list] = {}
    present = list(dict.fromkeys(df.columns))
    for exp in suite.expectations:
        config = exp.configuration
        cols = tuple(dict.fromkeys(_referenced_columns(config.kwargs, present)))
        narrow = (
            config.type.startswith(_COLUMN_PREFIXES)
            and cols
            and (not config.kwargs.get("row_condition") or _pandas_condition(config.kwargs))
            and set(cols) <= set(present)
            and df.columns.is_unique
        )
        groups.setdefault(tuple(sorted(cols)) if narrow else None, []).append(config)
    return groups


def _columns(kwargs: dict) -> str | None:
    cols = _referenced_columns(kwargs)
    return ", ".join(map(str, cols)) or None


def _record(config: ExpectationConfiguration, gx_result: Any, id_cols: set[str]) -> CheckRecord:
    kwargs = config.kwargs
    columns = _columns(kwargs)
    touches_id = any(c in id_cols or is_identifier_column(c) for c in _referenced_columns(kwargs))
    res = gx_result.result or {}
    note = None
    exc = gx_result.exception_info or {}
    if (
        exc.get("raised_exception") is not True
    ):  # GX nests exception info per metric when a metric fails
        nested = [v for v in exc.values() if isinstance(v, dict) and v.get("raised_exception")]
        exc = nested[0] if nested else {}
    if exc.get("raised_exception"):
        note = "error: " + _compact(str(exc.get("exception_message") or "GX raised an exception"))
    counts = res.get("partial_unexpected_counts")
    raw_sample = (
        [c.get("value") for c in counts]
        if counts is not None
        else res.get("partial_unexpected_list") or []
    )
    sample: list[Any] = []
    for v in raw_sample:  # GX lists each NaN separately; keep distinct values only
        safe = _safe_value(v, touches_id)
        if safe not in sample:
            sample.append(safe)
    sample = sample[:PARTIAL_UNEXPECTED_COUNT]
    observed = res.get("observed_value")
    observed = None if observed is None else _safe_value(observed, touches_id)
    unexpected_count = res.get("unexpected_count")
    unexpected_percent = res.get("unexpected_percent")
    return CheckRecord(
        expectation=config.type,
        column=columns,
        severity=expectation_severity(config),
        success=bool(gx_result.success),
        unexpected_count=None if unexpected_count is None else int(unexpected_count),
        unexpected_percent=None
        if unexpected_percent is None
        else round(float(unexpected_percent), 4),
        sample=sample,
        observed=observed,
        note=note,
    )


def _safe_value(value: Any, redact_all: bool) -> Any:
    """Plain JSON-able value, or REDACTED when it may carry an identifier."""
    if redact_all:
        return REDACTED
    if isinstance(value, dict):
        return {str(k): _safe_value(v, False) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_safe_value(v, False) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or value is pd.NaT:
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, float):
        if math.isnan(value):
            return None
        if not value.is_integer():  # fractions are measurements, not keys
            return value
        if abs(value) < 1e15:
            value = int(value)
    if isinstance(value, (pd.Timestamp, np.datetime64)):
        return str(value)
    if isinstance(value, (int, float)):
        return REDACTED if looks_like_identifier(str(abs(value))) else value
    text = str(value)
    return REDACTED if looks_like_identifier(text) else text


# ---------------------------------------------------------------------------------------------
# Running suites on a stored table larger than memory
# ---------------------------------------------------------------------------------------------

# GX answers these row by row: per-batch counts add up exactly to the whole table's.
_MAP_KINDS = (ColumnMapExpectation, ColumnPairMapExpectation, MulticolumnMapExpectation)
# Row by row too, but a row's verdict depends on every other row: counted over the whole table by DuckDB.
_WHOLE_TABLE_UNIQUE = ("expect_column_values_to_be_unique", "expect_compound_columns_to_be_unique")
# Judge the columns only, which every batch of a stored table shares.
_SCHEMA_ONLY = (
    "expect_table_columns_to_match_set",
    "expect_table_columns_to_match_ordered_list",
    "expect_column_to_exist",
    "expect_table_column_count_to_equal",
    "expect_table_column_count_to_be_between",
)
TABLE_BATCH_ROWS = BATCH_ROWS
# Text of a stored table as pandas' arrow-backed "str" (missing is NaN), with pandas' future string
# inference on while GX runs: GX's regex check first turns a column into ``str``, which is then no
# copy and runs on arrow's regex engine; with object text it was most of a national check's time.
_GX_TEXT = pd.StringDtype("pyarrow", na_value=np.nan)


def _numbers_as_float64(frame: pd.DataFrame) -> pd.DataFrame:
    """Numbers of any other type (Int16, nullable Int64, float32) as float64, exact below 2**53:
    GX compares int64 and float64 columns vectorised but walks any other column value by value in
    Python (GBAPERSOONTAB's suite over 6 million rows: 141 s that way, 28 s this way; the panel's
    range checks over 3.6 million person-months: 11 s of its 23)."""
    other = [
        c
        for c, dtype in frame.dtypes.items()
        if pd.api.types.is_numeric_dtype(dtype)
        and not pd.api.types.is_bool_dtype(dtype)
        and dtype not in (np.dtype("int64"), np.dtype("float64"))
    ]
    return frame.astype(dict.fromkeys(other, "float64")) if other else frame


def _read_columns(stored: list[str], mapped: list) -> list[str]:
    """The stored columns the row-by-row expectations read, their row conditions included."""
    wanted = {col for c in mapped for col in _referenced_columns(c.kwargs, stored)}
    return [col for col in stored if col in wanted] or stored[:1]


@dataclass
class _Tally:
    """One map expectation over all batches: the counts GX's ``_validate`` turns into its verdict."""

    elements: int = 0
    considered: int = 0  # not missing (or, for column pairs and lists, not ignored)
    unexpected: int = 0
    sample: list = field(default_factory=list)
    exception: dict | None = None

    def add(self, gx_result: Any) -> None:
        res = gx_result.result or {}
        exc = gx_result.exception_info or {}
        raised = exc.get("raised_exception") is True or any(
            isinstance(v, dict) and v.get("raised_exception") for v in exc.values()
        )
        if raised or res.get("element_count") is None:
            self.exception = self.exception or exc or {"raised_exception": True}
            return
        n = int(res["element_count"])
        self.elements += n
        self.considered += n - int(res.get("missing_count") or 0)
        self.unexpected += int(res.get("unexpected_count") or 0)
        counts = res.get("partial_unexpected_counts")
        values = (
            [c.get("value") for c in counts]
            if counts is not None
            else res.get("partial_unexpected_list") or []
        )
        for v in values:
            if len(self.sample) < PARTIAL_UNEXPECTED_COUNT and v not in self.sample:
                self.sample.append(v)

    def result(self, mostly: float) -> Any:
        """What GX reports for the whole table: its success rule (``_mostly_success``) on the sums."""
        if self.exception:
            return SimpleNamespace(success=False, result={}, exception_info=self.exception)
        success = (
            True
            if not self.elements or not self.considered
            else _mostly_success(self.considered, self.unexpected, mostly)
        )
        percent = 100 * self.unexpected / self.considered if self.considered else None
        return SimpleNamespace(
            success=success,
            exception_info={},
            result={
                "element_count": self.elements,
                "missing_count": self.elements - self.considered,
                "unexpected_count": self.unexpected,
                "unexpected_percent": percent,
                "partial_unexpected_list": self.sample,
            },
        )


def _unique_tally(con, source: str, config: ExpectationConfiguration) -> _Tally:
    """GX's uniqueness over the whole table, out of core: every row whose value (or combination of
    values) occurs more than once is unexpected; missing values (or rows GX ignores) are not judged."""
    kw = config.kwargs
    if config.type == "expect_column_values_to_be_unique":
        cols = [kw["column"]]
        judged = f"{_quoted(cols[0])} IS NOT NULL"
    else:
        cols = list(kw["column_list"])
        ignore = getattr(config.to_domain_obj(), "ignore_row_if", "all_values_are_missing")
        judged = {
            "all_values_are_missing": " OR ".join(f"{_quoted(c)} IS NOT NULL" for c in cols),
            "any_value_is_missing": " AND ".join(f"{_quoted(c)} IS NOT NULL" for c in cols),
        }.get(ignore, "true")
    group = ", ".join(_quoted(c) for c in cols)
    # Values seen twice are found among the rows whose 64-bit hash is seen twice: a hash table of
    # 24 million numbers fits in memory where one of 24 million keys would spill to disk; equal
    # values have equal hashes, and the exact second grouping drops any collision. It groups only
    # those rows, stored first, and runs only when a hash repeats: a query joining and grouping
    # the whole table was planned for DuckDB's estimate of millions of groups and ran out of its
    # 1 GB on the 118 million care-cost rows, though no hash repeated.
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE twice AS
            SELECT hash({group}) AS h FROM {source} WHERE {judged} GROUP BY h HAVING count(*) > 1"""
    )
    [(repeats,)] = con.execute("SELECT count(*) FROM twice").fetchall()
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE candidates AS SELECT {group} FROM {source}
            WHERE {judged} AND hash({group}) IN (SELECT h FROM twice)"""
        if repeats
        else f"CREATE OR REPLACE TEMP TABLE candidates AS SELECT {group} FROM {source} LIMIT 0"
    )
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE repeated AS
            SELECT {group}, count(*) AS n FROM candidates GROUP BY ALL HAVING n > 1"""
    )
    elements, considered = con.execute(
        f"SELECT count(*), count(*) FILTER (WHERE {judged}) FROM {source}"
    ).fetchone()
    [(unexpected,)] = con.execute("SELECT coalesce(sum(n), 0) FROM repeated").fetchall()
    rows = con.execute(f"SELECT {group} FROM repeated LIMIT {PARTIAL_UNEXPECTED_COUNT}").fetchall()
    sample = [r[0] if len(cols) == 1 else dict(zip(cols, r)) for r in rows]
    return _Tally(int(elements), int(considered), int(unexpected), sample)


def _quoted(column: str) -> str:
    return '"' + str(column).replace('"', '""') + '"'


def run_suite_on_table(
    dataset: ds.Dataset,
    suite_name: str | os.PathLike,
    *,
    identifier_columns: Iterable[str] = (),
    suites_dir: str | os.PathLike | None = None,
    batch_rows: int = TABLE_BATCH_ROWS,
    columns: Sequence[str] | None = None,
) -> SuiteResult:
    """``run_suite`` on a stored table larger than memory, with the same verdicts and counts.

    Map expectations (a verdict per row) run through GX batch by batch and their counts are added
    up, then GX's own success rule is applied to the sums; uniqueness is counted over all rows by
    DuckDB; expectations on the columns alone run on the first rows. Any other expectation (a
    mean, a row count) cannot be judged this way and fails with a note saying so.
    """
    from wi_pipeline.lib.datasets import (
        duckdb_connection,
        iter_frames,
        parquet_source,
        table_columns,
    )

    suite = load_suite(suite_name, suites_dir)
    id_cols = set(identifier_columns)
    configs = [e.configuration for e in suite.expectations]
    kinds: dict[str, str] = {}
    for c in configs:
        if c.type in _WHOLE_TABLE_UNIQUE and not c.kwargs.get("row_condition"):
            kinds[c.id] = "unique"
        elif c.type in _SCHEMA_ONLY:
            kinds[c.id] = "schema"
        elif isinstance(c.to_domain_obj(), _MAP_KINDS) and c.type not in _WHOLE_TABLE_UNIQUE:
            kinds[c.id] = "map"
        else:
            kinds[c.id] = "unsupported"
    tallies = {c.id: _Tally() for c in configs if kinds[c.id] == "map"}
    results: dict[str, Any] = {}
    n_rows = 0
    stored = list(columns or table_columns(dataset))
    schema = [c for c in configs if kinds[c.id] == "schema"]
    if schema:  # the columns alone: judged once, on the first rows
        head = dataset.head(1_000, columns=stored).to_pandas()
        results.update(_validate(head, suite.name, schema))
    mapped = [c for c in configs if kinds[c.id] == "map"]
    with pd.option_context("future.infer_string", True):
        for frame in iter_frames(dataset, batch_rows, _read_columns(stored, mapped), text=_GX_TEXT):
            n_rows += len(frame)
            for cid, gx_result in _validate(frame, suite.name, mapped).items():
                tallies[cid].add(gx_result)
    unique = [c for c in configs if kinds[c.id] == "unique"]
    if unique:
        with duckdb_connection() as con:
            for c in unique:
                tallies[c.id] = _unique_tally(con, parquet_source(dataset), c)
    for c in configs:
        if c.id in tallies:
            results[c.id] = tallies[c.id].result(c.kwargs.get("mostly", 1))
    unsupported = (
        "cannot be judged on a table stored in parts "
        "(only row-by-row rules, uniqueness and columns)"
    )
    notes = {c.id: unsupported for c in configs if kinds[c.id] == "unsupported"}
    records = _suite_records(configs, results, id_cols, notes)
    return SuiteResult(suite_name=suite.name, n_rows=n_rows, results=records)


# ---------------------------------------------------------------------------------------------
# Plain-pandas checks that GX does not express well (cross-extract, cross-municipality)
# ---------------------------------------------------------------------------------------------


def row_count_within(
    n_now: int, n_previous: int | None, tolerance: float = 0.5, *, severity: str = "error"
) -> CheckRecord:
    """Plausible extract size: relative change against the previous extract at most ``tolerance``.

    A half-empty or doubled extract usually means a broken export, not a real change.
    Without a previous extract (None or 0) the check passes and says so.
    """
    if not n_previous:
        return CheckRecord(
            "row_count_within",
            None,
            severity,
            True,
            observed={"n_now": int(n_now)},
            note="no previous extract to compare with",
        )
    change = (n_now - n_previous) / n_previous
    return CheckRecord(
        "row_count_within",
        None,
        severity,
        bool(abs(change) <= tolerance),
        observed={
            "n_now": int(n_now),
            "n_previous": int(n_previous),
            "relative_change": round(change, 4),
        },
        note=None
        if abs(change) <= tolerance
        else f"row count changed {change:+.1%} (tolerance {tolerance:.0%})",
    )


def quarantine_share_within(
    n_quarantined: int,
    n_in: int,
    max_share: float = 0.25,
    *,
    min_rows: int = 100,
    severity: str = "error",
) -> CheckRecord:
    """Properly registered: a few faulty rows are normal, a large share means the export itself is broken.

    Below ``min_rows`` rows a share says little (one fault in twelve rows is 8%), so it only reports.
    """
    share = n_quarantined / n_in if n_in else 0.0
    ok = share <= max_share or n_in < min_rows
    return CheckRecord(
        "quarantine_share_within",
        None,
        severity,
        bool(ok),
        observed={
            "quarantined": int(n_quarantined),
            "rows_in": int(n_in),
            "share": round(share, 4),
        },
        note=(f"only {n_in} rows: share not judged" if n_in < min_rows else None)
        if ok
        else f"{share:.1%} of rows quarantined (at most {max_share:.0%} expected)",
    )


def distribution_within(
    value: float, pooled_value: float, tolerance: float, label: str, *, severity: str = "warn"
) -> CheckRecord:
    """A municipality's share or mean within ``tolerance`` (absolute) of the pooled G4 value.

    Defaults to warn: real differences between cities exist; a large gap more often means a local
    code or registration habit that harmonisation missed, which a person should look at.
    """
    ok = not (pd.isna(value) or pd.isna(pooled_value)) and abs(value - pooled_value) <= tolerance
    diff = (
        None if pd.isna(value) or pd.isna(pooled_value) else round(float(value - pooled_value), 6)
    )
    return CheckRecord(
        "distribution_within",
        label,
        severity,
        bool(ok),
        observed={
            "value": _safe_value(value, False),
            "pooled": _safe_value(pooled_value, False),
            "difference": diff,
        },
        note=None if ok else f"{label}: {value} vs pooled {pooled_value} (tolerance {tolerance})",
    )


def children_born_after_parents(
    child_parent: pd.DataFrame,
    persons: pd.DataFrame,
    *,
    min_age_gap_years: int = 12,
    mostly: float = 0.999,
    severity: str = "error",
) -> CheckRecord:
    """Free of errors: a parent is born well before the child (KINDOUDERTAB against GBAPERSOONTAB).

    A child registered as born before, or within ``min_age_gap_years`` of, its mother or father is an
    impossible combination: usually a swapped key. Links to unknown parents ('---------') or to
    persons without a birth date are not judged. Like a GX expectation, ``mostly`` tolerates the rare
    register error; a larger share means a broken table.
    """

    def key(df, kind, number):  # CBS persons are the pair RINPERSOONS + RINPERSOON
        return df[kind].astype("string") + "|" + df[number].astype("string")

    born = pd.Series(
        (
            persons["GBAGEBOORTEJAAR"].astype("Float64") * 12
            + persons["GBAGEBOORTEMAAND"].astype("Float64")
        ).to_numpy(),
        index=key(persons, "RINPERSOONS", "RINPERSOON"),
    )
    born = born[~born.index.duplicated(keep=False)]  # a key given twice has no known birth date
    child = key(child_parent, "RINPERSOONS", "RINPERSOON").map(born)
    n_links, n_bad = 0, 0
    for kind, number in (("RINPERSOONSMa", "RINPERSOONMa"), ("RINPERSOONSpa", "RINPERSOONpa")):
        parent = key(child_parent, kind, number).map(born)
        known = child.notna() & parent.notna()
        n_links += int(known.sum())
        n_bad += int((known & (child - parent < 12 * min_age_gap_years)).sum())
    return _parents_record(n_links, n_bad, min_age_gap_years, mostly, severity)


def _parents_record(
    n_links: int, n_bad: int, min_age_gap_years: int, mostly: float, severity: str
) -> CheckRecord:
    share = n_bad / n_links if n_links else 0.0
    ok = share <= 1 - mostly
    return CheckRecord(
        "children_born_after_parents",
        "RINPERSOONMa, RINPERSOONpa",
        severity,
        bool(ok),
        unexpected_count=n_bad,
        unexpected_percent=round(100 * share, 4),
        observed={
            "links_judged": n_links,
            "parent_under_min_age": n_bad,
            "min_age_gap_years": min_age_gap_years,
        },
        note=None
        if ok
        else (
            f"{n_bad} of {n_links} child-parent links have a parent less than {min_age_gap_years} "
            f"years older than the child (at most {1 - mostly:.1%} expected)"
        ),
    )


def children_born_after_parents_on_tables(
    child_parent: ds.Dataset,
    persons: ds.Dataset,
    *,
    min_age_gap_years: int = 12,
    mostly: float = 0.999,
    severity: str = "error",
) -> CheckRecord:
    """``children_born_after_parents`` on stored tables of national size, joined out of core by DuckDB:
    the same links judged, the same counts."""
    from wi_pipeline.lib.datasets import duckdb_connection, parquet_source

    born = f"""SELECT RINPERSOONS AS s, RINPERSOON AS r,
                  any_value(GBAGEBOORTEJAAR * 12 + GBAGEBOORTEMAAND) AS born
               FROM {parquet_source(persons)}
               WHERE RINPERSOONS IS NOT NULL AND RINPERSOON IS NOT NULL
               GROUP BY ALL HAVING count(*) = 1"""  # a key given twice has no known birth date
    links = " UNION ALL ".join(
        f"""SELECT c.born AS child, p.born AS parent FROM {parquet_source(child_parent)} k
            JOIN born c ON k.RINPERSOONS = c.s AND k.RINPERSOON = c.r
            JOIN born p ON k.{kind} = p.s AND k.{number} = p.r"""
        for kind, number in (("RINPERSOONSMa", "RINPERSOONMa"), ("RINPERSOONSpa", "RINPERSOONpa"))
    )
    # two joins against 24 million persons: at 1 GB DuckDB spilled them to disk (281 s at national
    # size); at 2 GB they stay in memory (95 s, 2.5 GiB peak; 2 December 2026)
    with duckdb_connection(memory_limit="2GB") as con:
        n_links, n_bad = con.execute(
            f"""WITH born AS ({born}), links AS ({links})
                SELECT count(*), count(*) FILTER (WHERE child - parent < {12 * min_age_gap_years})
                FROM links WHERE child IS NOT NULL AND parent IS NOT NULL"""
        ).fetchone()
    return _parents_record(int(n_links), int(n_bad), min_age_gap_years, mostly, severity)


__all__: Sequence[str] = (
    "EXPECTATIONS_DIR",
    "REDACTED",
    "CheckRecord",
    "SuiteError",
    "SuiteResult",
    "children_born_after_parents",
    "children_born_after_parents_on_tables",
    "distribution_within",
    "load_suite",
    "quarantine_share_within",
    "row_count_within",
    "run_suite",
    "run_suite_on_table",
    "suite_path",
)
