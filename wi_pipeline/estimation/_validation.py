"""Input checks shared by the estimators: fail early with a message that names the column."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd


def as_list(cols: str | Iterable[str] | None) -> list[str]:
    if cols is None:
        return []
    if isinstance(cols, str):
        return [cols]
    return list(cols)


def check_dataframe(df: object) -> pd.DataFrame:
    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"expected a pandas DataFrame, got {type(df).__name__}")
    if len(df) == 0:
        raise ValueError("the DataFrame is empty")
    return df


def check_columns(df: pd.DataFrame, cols: Sequence[str]) -> None:
    missing = [c for c in cols if c not in df.columns]
    if missing:
        avail = list(map(str, df.columns[:25]))
        more = "" if len(df.columns) <= 25 else f" (+{len(df.columns) - 25} more)"
        raise ValueError(
            f"column(s) not found in the DataFrame: {missing}; available: {avail}{more}"
        )
    dup = sorted({c for c in cols if list(cols).count(c) > 1})
    if dup:
        raise ValueError(f"column(s) used in more than one role: {dup}")


def numeric_column(df: pd.DataFrame, col: str) -> np.ndarray:
    """Float view of a numeric or boolean column (nullable dtypes allowed, NA -> NaN)."""
    s = df[col]
    if not (pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s)):
        raise ValueError(
            f"column '{col}' must be numeric or boolean (got dtype {s.dtype}); "
            "encode categories as 0/1 dummy columns first"
        )
    return s.to_numpy(dtype=float, na_value=np.nan)


def check_finite(arrays: dict[str, np.ndarray], n_rows: int, allow_nan: Sequence[str] = ()) -> None:
    """Raise one ValueError that lists every column with NaN/inf and how many rows are affected."""
    parts = []
    bad_any = np.zeros(n_rows, dtype=bool)
    for name, a in arrays.items():
        if name in allow_nan:
            bad = np.isinf(a)
        else:
            bad = ~np.isfinite(a)
        k = int(bad.sum())
        if k:
            parts.append(f"'{name}' in {k} row(s)")
            bad_any |= bad
    if parts:
        raise ValueError(
            "missing or non-finite values: "
            + ", ".join(parts)
            + f" ({int(bad_any.sum())} of {n_rows} rows affected); drop or impute them before estimating"
        )


def group_codes(df: pd.DataFrame, col: str) -> np.ndarray:
    """Integer codes 0..G-1 for a cluster/unit column of any dtype; missing ids are an error."""
    codes, _ = pd.factorize(df[col], sort=False)
    k = int((codes < 0).sum())
    if k:
        raise ValueError(
            f"column '{col}' has missing values in {k} of {len(df)} rows; every row needs an id"
        )
    return codes.astype(np.int64)


def binary_column(values: np.ndarray, col: str) -> np.ndarray:
    uniq = np.unique(values)
    if not np.all(np.isin(uniq, [0.0, 1.0])):
        shown = uniq[:10].tolist()
        raise ValueError(
            f"treatment column '{col}' must be binary (0/1 or boolean); found values {shown}"
            + (" ..." if len(uniq) > 10 else "")
        )
    return values


def sampling_weights(df: pd.DataFrame, col: str | None, n: int) -> np.ndarray:
    """Weights normalised to mean 1 (ones when no column is given)."""
    if col is None:
        return np.ones(n)
    w = numeric_column(df, col)
    check_finite({col: w}, n)
    if (w < 0).any():
        raise ValueError(f"weights column '{col}' has {int((w < 0).sum())} negative value(s)")
    if w.sum() <= 0:
        raise ValueError(f"weights column '{col}' sums to zero")
    return w / w.mean()
