"""Blocking checks that run before an output is stored: a failure keeps the last good output
and stops everything downstream, for this partition only."""

from collections.abc import Iterable, Iterator

import pandas as pd
import pyarrow.dataset as ds
from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetKey,
    DagsterInvariantViolationError,
    Failure,
    MetadataValue,
    Output,
)

from wi_pipeline.lib.datasets import ARROW_TEXT, BATCH_ROWS, iter_frames, table_columns
from wi_pipeline.lib.layout import G4
from wi_pipeline.lib.privacy import redact_identifiers, scan_identifiers, scan_identifiers_in_parts

NO_IDENTIFIERS = "no_identifiers"


def no_identifiers_spec(key: AssetKey, published: bool = False) -> AssetCheckSpec:
    what = (
        "no BSN, CBS person key or pseudonym"
        if published
        else "no BSN, and CBS person keys only where linking needs them"
    )
    return AssetCheckSpec(
        NO_IDENTIFIERS,
        asset=key,
        blocking=True,
        description=f"Identifier scan of columns and values (free text included): {what}.",
    )


def no_identifiers_result(
    df: pd.DataFrame | ds.Dataset,
    key: AssetKey,
    *,
    allow_cbs_keys: bool = False,
    published: bool = False,
) -> AssetCheckResult:
    """A stored table larger than memory (a dataset) is scanned batch by batch."""
    if isinstance(df, ds.Dataset):
        findings = scan_identifiers_in_parts(
            iter_frames(df, BATCH_ROWS, text=ARROW_TEXT),
            allow_cbs_keys=allow_cbs_keys,
            published=published,
        )
        df = df.head(0).to_pandas()[table_columns(df)]
    else:
        findings = scan_identifiers(df, allow_cbs_keys=allow_cbs_keys, published=published)
    return AssetCheckResult(
        asset_key=key,
        check_name=NO_IDENTIFIERS,
        passed=not findings,
        metadata={
            "findings": MetadataValue.md("\n".join(f"- {f}" for f in findings) or "none"),
            "columns_scanned": len(df.columns),
        },
    )


def municipality_label(gemeente: str) -> str:
    return f"{gemeente} {G4[gemeente]}"


def for_municipality(check: AssetCheckResult, gemeente: str | None) -> AssetCheckResult:
    """The check's result names its municipality: the Checks tab shows one result per partition without it."""
    if gemeente not in G4:
        return check
    what = check.description or ("passed" if check.passed else "failed")
    label = MetadataValue.text(municipality_label(gemeente))
    return check._replace(
        metadata={"municipality": label, **check.metadata},
        description=f"{G4[gemeente]} ({gemeente}): {what}",
    )


def _current_partition() -> str | None:
    try:
        context = AssetExecutionContext.get()
    except DagsterInvariantViolationError:  # called outside a run (a unit test of an asset's parts)
        return None
    return context.partition_key if context.has_partition_key else None


def emit_guarded(
    outputs: Iterable[tuple[str | None, object, dict]], checks: list[AssetCheckResult]
) -> Iterator:
    """Yield check results, then the outputs only if no blocking (error) check failed."""
    gemeente = _current_partition()
    checks = [for_municipality(c, gemeente) for c in checks]
    yield from checks
    failed = [c for c in checks if not c.passed and c.severity == AssetCheckSeverity.ERROR]
    if failed:
        names = ", ".join(
            f"{c.asset_key.to_user_string() if c.asset_key else ''}:{c.check_name}" for c in failed
        )
        raise Failure(
            description=f"blocking check(s) failed: {names}; the previous output is kept and "
            "nothing downstream is rebuilt from this one"
        )
    for name, value, metadata in outputs:
        yield Output(value, output_name=name or "result", metadata=metadata)


GX_SUITE = "gx_suite"


def suite_name(key: AssetKey) -> str:
    """The suite of an asset lives in expectations/<key path joined by _>.json."""
    return "_".join(key.path)


def gx_suite_spec(key: AssetKey, suite: str | None = None) -> AssetCheckSpec:
    return AssetCheckSpec(
        GX_SUITE,
        asset=key,
        blocking=True,
        description=f"Great Expectations suite expectations/{suite or suite_name(key)}.json "
        "(edit the JSON to change it).",
    )


def gx_suite_result(
    df: pd.DataFrame | ds.Dataset, key: AssetKey, extra=(), suite: str | None = None
) -> AssetCheckResult:
    """Run the asset's suite (plus project checks that need more than one frame); a bad suite
    file fails the check.

    A stored table larger than memory (a dataset) is judged whole, in batches (``run_suite_on_table``)."""
    from wi_pipeline.lib.quality import SuiteError, run_suite, run_suite_on_table

    run = run_suite_on_table if isinstance(df, ds.Dataset) else run_suite
    try:
        result = run(df, suite or suite_name(key)).with_checks(*extra)
    except SuiteError as err:
        return AssetCheckResult(
            asset_key=key,
            check_name=GX_SUITE,
            passed=False,
            metadata={"suite_error": MetadataValue.text(str(err))},
        )
    failed = result.failed()
    return AssetCheckResult(
        asset_key=key,
        check_name=GX_SUITE,
        passed=result.success,
        metadata={
            "expectations": len(result.results),
            "failed_blocking": sum(r.blocking for r in failed),
            "failed_warnings": sum(not r.blocking for r in failed),
            "results": MetadataValue.md(result.to_markdown()),
            # structured, for the data-quality report: which rule failed and how often (no values)
            "records_json": MetadataValue.json(
                [
                    {
                        **{k: v for k, v in r.to_dict().items() if k not in ("sample", "observed")},
                        "note": redact_identifiers(r.note) if r.note else None,
                    }
                    for r in result.results
                ]
            ),
        },
    )
