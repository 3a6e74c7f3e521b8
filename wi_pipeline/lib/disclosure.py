"""CBS Remote Access output rules, in one module every published output goes through.

The rules (see docs/domain): every published cell counts at least ``min_units`` persons (also
subgroup x treatment cells and plot bins); every model has at least ``min_df`` residual degrees of
freedom; no minima/maxima of individual values; no cell recoverable by differencing two
published numbers; optionally no single contributor above ``dominance_share`` of a cell total. No
person keys either: ``lib/privacy.py`` scans for them (the no_identifiers check on every asset).

Suppression never drops rows: a suppressed row keeps its labels, gets ``suppressed=True`` and a
``suppression_reason``, and its numbers (counts included, because a published count lets a reader
difference the cell back) are blanked to NaN. Reviewers see what was withheld and why.

Reasons: ``primary`` (too few units), ``complementary`` (recoverable by differencing),
``dominance`` (caller-flagged dominated cell), ``model_df`` (too few degrees of freedom).

No Dagster import: estimators and notebooks use this directly.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

PRIMARY = "primary"
COMPLEMENTARY = "complementary"
DOMINANCE = "dominance"
MODEL_DF = "model_df"

EFFECT_VALUE_COLS = ("estimate", "std_error", "ci_low", "ci_high", "p_value")
EFFECT_COUNT_COLS = ("n_treated", "n_control")

_EXTREME_TOKENS = frozenset(
    {"min", "max", "minimum", "maximum", "minimaal", "maximaal", "laagste", "hoogste"}
)
_BIN_POSITION_COLS = frozenset({"x", "event_time", "age_months", "month", "period"})


@dataclass(frozen=True)
class DisclosureRules:
    """Thresholds, configurable because CBS and third parties state them differently."""

    min_units: int = 10
    min_df: int = 10
    dominance_share: float | None = 0.5


@dataclass(frozen=True)
class Nested:
    """Column names describing which published rows are subgroups of which.

    Per row: ``group`` is the row's id, ``parent`` the id of the row it is a subgroup of (NA for
    a top row), ``breakdown`` (optional) names the split, e.g. "sex" or "children". Children that
    share a parent and a breakdown must be disjoint subsets of the parent (they need not cover
    it). Use a different breakdown value for a second, overlapping split of the same parent. A
    parent id not present in the table is treated as a total published elsewhere.
    """

    group: str = "group"
    parent: str = "parent"
    breakdown: str | None = None


# ---------------------------------------------------------------------------------------------
# Cell suppression
# ---------------------------------------------------------------------------------------------


def suppress_cells(
    table: pd.DataFrame,
    count_col: str,
    value_cols: Sequence[str],
    rules: DisclosureRules = DisclosureRules(),
    group_cols: Sequence[str] | None = None,
    nested: Nested | tuple[str, ...] | None = None,
    *,
    dominated: pd.Series | None = None,
) -> pd.DataFrame:
    """Mark and blank cells with fewer than ``rules.min_units`` units, plus those they expose.

    ``count_col`` holds the number of persons per row. ``group_cols`` split the table into
    independent sub-tables (e.g. measure, municipality, outcome); rows of different sub-tables are
    never compared.

    Without ``nested`` the rows of each sub-table are taken as disjoint cells of one breakdown
    whose total is published somewhere (the conservative assumption): if only one cell is
    suppressed, or the suppressed cells add up to fewer than ``min_units``, the next smallest
    cell is suppressed too.

    With ``nested`` (a :class:`Nested` or a tuple ``(group, parent[, breakdown])``) each row
    names its parent row, e.g. ``all`` -> ``men``/``women``, ``all`` -> ``no single parents``,
    age band ``18-29`` -> ``18-24``/``25-29``. For a published parent, the part of it not covered
    by its published children can be derived by subtraction; when that part counts 1 to
    ``min_units - 1`` persons, or is exactly one suppressed child, the smallest published child
    is suppressed as well (the parent itself when no child is left). So "all" = 120 and
    "no single parents" = 117 (a derivable group of 3) leaves one of the two withheld.

    ``dominated`` (bool per row, optional) marks cells the caller found dominated by one
    contributor (see :func:`check_dominance`); they are suppressed as primary cells.

    Returns a copy with ``suppressed`` and ``suppression_reason``; no row is dropped.
    """
    out = table.copy()
    n = pd.to_numeric(out[count_col], errors="coerce").to_numpy(dtype=float)
    reasons = np.full(len(out), None, dtype=object)
    reasons[~(n >= rules.min_units)] = PRIMARY  # NaN count: size unknown, so not publishable
    if dominated is not None:
        dom = np.asarray(pd.Series(dominated, index=out.index).fillna(True), dtype=bool)
        reasons[dom & (reasons == None)] = DOMINANCE  # noqa: E711
    sets = _sibling_sets(out, group_cols, _as_nested(nested))
    _complementary(n, reasons, sets, rules.min_units)
    return _finish(out, reasons, [count_col, *value_cols])


def _as_nested(nested: Nested | tuple[str, ...] | None) -> Nested | None:
    if nested is None or isinstance(nested, Nested):
        return nested
    return Nested(*nested)


def _sibling_sets(
    table: pd.DataFrame, group_cols: Sequence[str] | None, nested: Nested | None
) -> list[tuple[np.ndarray, int | None]]:
    """(positions of disjoint sibling rows, position of their parent row or None = implicit total)."""
    positions = pd.Series(np.arange(len(table)), index=table.index)
    if group_cols:
        parts = [
            p.to_numpy()
            for _, p in positions.groupby([table[c] for c in group_cols], dropna=False, sort=False)
        ]
    else:
        parts = [positions.to_numpy()]
    sets: list[tuple[np.ndarray, int | None]] = []
    for part in parts:
        if nested is None:
            sets.append((part, None))
            continue
        sub = table.iloc[part].reset_index(drop=True)
        ids = sub[nested.group]
        if ids.duplicated().any():
            dup = ids[ids.duplicated()].iloc[0]
            raise ValueError(
                f"group id {dup!r} occurs twice within one sub-table; add the column that tells "
                "them apart to group_cols"
            )
        where = dict(zip(ids, part))
        parent = sub[nested.parent]
        key = [parent] + ([sub[nested.breakdown]] if nested.breakdown else [])
        has_parent = parent.notna()
        children = pd.Series(part)[has_parent]
        if children.empty:
            continue
        grouped = children.groupby([k[has_parent] for k in key], dropna=False, sort=False)
        for name, members in grouped:
            pid = name[0] if isinstance(name, tuple) else name
            sets.append((members.to_numpy(), where.get(pid)))
    return sets


def _complementary(n: np.ndarray, reasons: np.ndarray, sets: list, min_units: int) -> None:
    """Extend ``reasons`` in place until no suppressed cell can be derived by subtraction."""
    changed = True
    while changed:
        changed = False
        for members, parent in sets:
            supp = reasons[members] != None  # noqa: E711
            n_members = n[members]
            if parent is None:
                derivable = float(np.nansum(n_members[supp]))  # total minus published cells
                k = int(supp.sum())
                exposed = k == 1 or (k > 1 and derivable < min_units)
            else:
                if reasons[parent] is not None:
                    continue  # parent withheld: nothing to subtract from
                derivable = n[parent] - float(np.nansum(n_members[~supp]))
                remainder = n[parent] - float(np.nansum(n_members))
                if remainder < 0:
                    raise ValueError(
                        "children add up to more than their parent; children sharing a parent and "
                        "breakdown must be disjoint (give overlapping splits their own breakdown)"
                    )
                exposed = (0 < derivable < min_units) or (supp.sum() == 1 and remainder == 0)
            if not exposed:
                continue
            published = members[~supp]
            if len(published):
                pick = published[np.argmin(np.nan_to_num(n[published], nan=np.inf))]
            elif parent is not None:
                pick = parent
            else:
                continue  # everything in the set is already withheld
            reasons[pick] = COMPLEMENTARY
            changed = True


def _finish(out: pd.DataFrame, reasons: np.ndarray, blank_cols: Iterable[str]) -> pd.DataFrame:
    mask = reasons != None  # noqa: E711
    for col in dict.fromkeys(blank_cols):
        if col in out.columns:
            out[col] = out[col].where(~mask)
    out["suppressed"] = mask
    out["suppression_reason"] = pd.Series(reasons, index=out.index, dtype=object)
    return out


# ---------------------------------------------------------------------------------------------
# Models, effects, plot bins
# ---------------------------------------------------------------------------------------------


def check_model_df(df_resid, rules: DisclosureRules = DisclosureRules()):
    """True where a model has enough residual degrees of freedom (scalar in, bool out)."""
    arr = np.asarray(
        pd.to_numeric(pd.Series(np.atleast_1d(df_resid)), errors="coerce"), dtype=float
    )
    ok = arr >= rules.min_df  # NaN -> False
    return bool(ok[0]) if np.ndim(df_resid) == 0 else ok


def suppress_effect_table(
    effects: pd.DataFrame,
    rules: DisclosureRules = DisclosureRules(),
    group_cols: Sequence[str] | None = None,
    nested: Nested | tuple[str, ...] | None = None,
    value_cols: Sequence[str] = EFFECT_VALUE_COLS,
) -> pd.DataFrame:
    """Withhold effect rows with an arm below ``min_units`` or a model below ``min_df``.

    Expects n_treated, n_control, df_resid and the value columns (estimate, std_error, ci_low,
    ci_high, p_value). Arm counts of withheld rows are blanked too. Given ``group_cols`` or
    ``nested`` (same meaning as in :func:`suppress_cells`), complementary suppression is applied to
    both arm counts, so a withheld subgroup's arm sizes cannot be got back from the others.
    """
    missing = [c for c in (*EFFECT_COUNT_COLS, "df_resid") if c not in effects.columns]
    if missing:
        raise ValueError(f"effect table lacks columns {missing}")
    out = effects.copy()
    counts = [
        pd.to_numeric(out[c], errors="coerce").to_numpy(dtype=float) for c in EFFECT_COUNT_COLS
    ]
    reasons = np.full(len(out), None, dtype=object)
    reasons[~check_model_df(out["df_resid"].to_numpy(), rules)] = MODEL_DF
    small = np.logical_or.reduce([~(c >= rules.min_units) for c in counts])
    reasons[small] = PRIMARY
    if group_cols or nested is not None:
        sets = _sibling_sets(out, group_cols, _as_nested(nested))
        before = None
        while before is None or (reasons != before).any():
            before = reasons.copy()
            for c in counts:
                _complementary(c, reasons, sets, rules.min_units)
    return _finish(out, reasons, [*EFFECT_COUNT_COLS, *value_cols])


def suppress_bins(
    bins: pd.DataFrame,
    count_col: str = "n",
    rules: DisclosureRules = DisclosureRules(),
    value_cols: Sequence[str] | None = None,
    group_cols: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Withhold plot bins (histogram, binned scatter, event-time bins) under ``min_units``.

    The bins of one plot (per ``group_cols``) are a breakdown of a published total, so a single
    withheld bin also withholds the next smallest. By default every numeric column is blanked
    except the count (blanked too), ``group_cols`` and bin positions (names starting with "bin"
    or x / event_time / age_months / month / period), so the plot still knows where a gap is.
    """
    if value_cols is None:
        keep = {count_col, *(group_cols or ())}
        value_cols = [
            c
            for c in bins.columns
            if c not in keep
            and pd.api.types.is_numeric_dtype(bins[c])
            and not pd.api.types.is_bool_dtype(bins[c])
            and not str(c).lower().startswith("bin")
            and str(c).lower() not in _BIN_POSITION_COLS
        ]
    return suppress_cells(bins, count_col, list(value_cols), rules, group_cols=group_cols)


# ---------------------------------------------------------------------------------------------
# Effect tables: one row per estimate (measure, municipality, subgroup, outcome, horizon, contrast)
# ---------------------------------------------------------------------------------------------

FEWER_THAN = "fewer than"  # the start of every small-count reason: "fewer than 10 persons ..."


def fewer_than(rules: DisclosureRules, what: str) -> str:
    """The reason for an estimate withheld because ``what`` (persons on a side, in an arm, ...) has
    under ``min_units`` persons."""
    return f"{FEWER_THAN} {rules.min_units} {what}"


def exposed_by_differencing(
    sides: Iterable[frozenset], published: Iterable[frozenset], rules: DisclosureRules
) -> bool:
    """True when a side's persons are nested in (or contain) the persons of a side already published
    and the two differ by 1 to ``min_units - 1``: subtracting the two counts would give those few
    persons away (an RD's bandwidth ladder, its donut and main rows count persons in nested windows
    of months)."""
    published = list(published)
    return any(
        (a <= s or s <= a) and 0 < abs(len(a) - len(s)) < rules.min_units
        for a in sides
        for s in published
    )


def dominated_amount(
    part: pd.DataFrame, outcome: str, arms: pd.Series, rules: DisclosureRules
) -> bool:
    """An amount outcome (hours, care costs) whose arm total one person dominates may not be published:
    the arm's mean would reveal that person's amount. Shares (0/1 outcomes) have no such contributor."""
    y = part[outcome]
    if y.dropna().isin([0, 1]).all():
        return False
    # a person can be in both arms (a control who starts later, a parent on both sides of the cutoff)
    return any(
        not check_dominance(
            y[arm].abs().groupby(part.loc[arm, "pseudo_id"], observed=True).sum(), rules
        )
        for arm in (arms, ~arms)
    )


def dominance_reason(
    part: pd.DataFrame, outcome: str, arms: pd.Series, rules: DisclosureRules
) -> str | None:
    """The reason to withhold an estimate whose arm total one person dominates, else None."""
    if dominated_amount(part, outcome, arms, rules):
        return f"{DOMINANCE}: one person holds over {rules.dominance_share:.0%} of an arm's total"
    return None


_CELL_KEYS = ["measure", "outcome", "horizon", "contrast", "subgroup", "subgroup_value"]
# blanked in a withheld row (its counts too where they are sensitive, see count_sensitive)
WITHHELD_VALUES = (
    "estimate",
    "std_error",
    "ci_low",
    "ci_high",
    "p_value",
    "p_adjusted",
    "df_resid",
    "mde_80",
    "level_treated",
    "level_control",
    "rank",
    "rank_low",
    "rank_high",
    "in_best_set",
    "heterogeneity_p",
    "robustness_value",
)


def _complementary_rows(
    t: pd.DataFrame, withheld: pd.Series, count_col: str, rules: DisclosureRules
) -> pd.Index:
    """Rows to withhold so that no withheld arm count can be recovered by subtraction from its parent.

    Only breakdowns whose counts can nest in the parent are considered: where a person's subgroup
    changes over time (controls are person-months) the children overlap, and subtraction yields
    no group's count. RD subgroups have their own bandwidths, so their counts nest only roughly;
    they are treated as nested, which can only withhold more.
    """
    family = (
        t["gemeente"]
        + "|"
        + t["measure"]
        + "|"
        + t["outcome"]
        + "|"
        + t["horizon"].astype(str)
        + "|"
        + t["contrast"]
    )
    counts = pd.DataFrame(
        {
            "n": t[count_col].astype(float).where(~withheld),  # a withheld row counts as withheld
            "_group": family + "|" + t["subgroup"] + "=" + t["subgroup_value"],
            "_parent": (family + "|all=all").where(t["subgroup"] != "all"),
            "_breakdown": family + "|" + t["subgroup"],
            "_family": family,
        }
    )
    parent_n = (
        t.loc[t["subgroup"] == "all"].assign(_f=family).set_index("_f")[count_col].astype(float)
    )
    child_sum = t[count_col].astype(float).groupby(counts["_breakdown"]).transform("sum")
    use = (t["subgroup"] == "all") | (child_sum <= counts["_family"].map(parent_n))
    comp = suppress_cells(
        counts.loc[use, ["n", "_group", "_parent", "_breakdown"]],
        "n",
        [],
        rules,
        nested=Nested("_group", "_parent", "_breakdown"),
    )
    return comp.index[comp["suppressed"].to_numpy() & ~withheld.loc[comp.index].to_numpy()]


def reason_in_words(reason: str) -> str:
    """Why a row is withheld, for a reader who does not know the output rules."""
    reason = (
        "" if reason is None or (isinstance(reason, float) and np.isnan(reason)) else str(reason)
    )
    if not reason:
        return ""
    if reason == PRIMARY or reason.startswith(FEWER_THAN):
        return "too few persons: every published number covers at least 10 persons in each group compared"
    if reason == COMPLEMENTARY:
        return (
            "withheld so that a smaller withheld group cannot be worked out by subtracting published "
            "numbers from each other"
        )
    if reason == MODEL_DF:
        return "the model has fewer than 10 degrees of freedom, too few for a publishable estimate"
    if reason.startswith(DOMINANCE):
        return "one person accounts for more than half of a group's total, so the average would reveal them"
    if reason.startswith(NOT_ESTIMABLE):
        return "could not be estimated on these data (the groups compared do not overlap enough)"
    return reason


NOT_ESTIMABLE = "not estimable"  # reasons written where an estimate fails: "not estimable: ..."


def not_estimable(err: Exception) -> str:
    """The published reason for an estimate that failed: the estimator's message names columns and
    arms, but can also hold counts (an arm's rows), which in a published table are cells of their own;
    numbers are masked."""
    return f"{NOT_ESTIMABLE}: {re.sub(r'[0-9]+(?:[.,][0-9]+)*', '#', str(err))}"[:200]


def count_sensitive(reasons: pd.Series) -> pd.Series:
    """Withheld rows whose persons-per-arm counts must stay hidden. Only a row withheld for a model
    reason (not estimable, too few degrees of freedom) or for dominance is known to have 10+ persons
    per arm, so its counts give nothing away; any other reason, or none, is taken as sensitive."""
    r = reasons.fillna("").astype(str)
    return ~(r.eq(MODEL_DF) | r.str.startswith(NOT_ESTIMABLE) | r.str.startswith(DOMINANCE))


def _derivable_in_own_table(m: pd.DataFrame) -> pd.Series:
    """Withheld rows whose (blanked) counts a reader can still work out from their own table: an
    overall row with one subgroup dimension published in full (its values add up to it, or to more
    where a person's subgroup changes, which a reader can still use as a bound), or a subgroup row
    whose overall row and every sibling are published."""
    family = (
        m[["gemeente", "measure", "outcome", "horizon", "contrast"]]
        .astype(str)
        .agg("|".join, axis=1)
    )
    shown = ~m["_withheld"]
    children = m["subgroup"] != "all"
    dim_full = shown[children].groupby([family[children], m.loc[children, "subgroup"]]).all()
    family_has_full_dim = dim_full.groupby(level=0).any()
    parent_shown = (shown & ~children).groupby(family).any()
    siblings_shown = shown.groupby([family, m["subgroup"]]).transform("sum")
    n_siblings = m.groupby([family, m["subgroup"]])["subgroup"].transform("size")
    overall = ~children & family.map(family_has_full_dim).eq(True)
    child = children & family.map(parent_shown).eq(True) & (siblings_shown == n_siblings - 1)
    return m["_withheld"] & (overall | child)


def _exposed_by_municipal_tables(
    t: pd.DataFrame,
    withheld: pd.Series,
    reasons: pd.Series,
    municipal: pd.DataFrame,
    rules: DisclosureRules,
) -> pd.Index:
    """Pooled rows to withhold because, with the published municipal tables, they would give back a
    count-sensitive municipal count: the G4 sample is the four municipal samples stacked, so its
    count minus the published cities' counts is what the withheld cities hold together. A city's row
    withheld for a model reason hides a count of 10 or more, so next to it a sensitive count cannot
    be told apart, unless that count can be worked out from its own table; and on its own such a row
    never withholds a pooled row. RD counts are persons within each estimate's own bandwidth, which
    do not add up across cities: not compared."""
    m = municipal.assign(_withheld=municipal["suppressed"].astype(bool))
    m["_sensitive"] = m["_withheld"] & count_sensitive(m["suppression_reason"])
    m["_hiding"] = m["_withheld"] & ~m["_sensitive"] & ~_derivable_in_own_table(m)
    m["_key"] = m[_CELL_KEYS].astype(str).agg("|".join, axis=1)
    key = t[_CELL_KEYS].astype(str).agg("|".join, axis=1)
    by_key = m.groupby("_key")
    k_sensitive = key.map(by_key["_sensitive"].sum()).fillna(0)
    k_hiding = key.map(by_key["_hiding"].sum()).fillna(0)
    k_other = key.map(
        by_key["_withheld"].sum() - by_key["_sensitive"].sum() - by_key["_hiding"].sum()
    ).fillna(0)
    exposed = pd.Series(False, index=t.index)
    # the staggered design's counts are persons in its arms, which add up across cities like any other
    within_bandwidth = (t["measure"] == "exemption_9a") & ~t["contrast"].str.startswith("staggered")
    for col in ("n_treated", "n_control"):
        published = m[col].astype(float).where(~m["_withheld"]).groupby(m["_key"]).sum(min_count=0)
        withheld_sum = t[col].astype(float) - key.map(published).fillna(0.0)
        # with a derivable model-reason count in the sum, the sensitive part is as good as known
        exposed |= (
            (k_sensitive >= 1)
            & (k_hiding == 0)
            & ((k_sensitive == 1) | (k_other > 0) | (withheld_sum < rules.min_units))
        )
    already = withheld & count_sensitive(reasons)
    return t.index[exposed.to_numpy() & ~within_bandwidth.to_numpy() & ~already.to_numpy()]


def apply_disclosure(
    table: pd.DataFrame,
    rules: DisclosureRules = DisclosureRules(),
    municipal: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Publishable effect table: small arms, small models and what they expose are withheld, not dropped.

    Primary suppression: an arm under ``min_units`` persons or a model under ``min_df``. Then
    complementary suppression on each arm, within the table and, for a pooled table, against the
    published ``municipal`` tables it adds up from, repeated until nothing changes. Only counts under
    the threshold are protected: a row withheld for a model reason (10+ persons per arm) protects
    nothing and withholds nothing by itself. A withheld row keeps its labels and reason only; a
    published row keeps the diagnostics the rules allow.
    """
    t = table.copy()
    pre_suppressed, pre_reason = t.pop("suppressed").astype(bool), t.pop("suppression_reason")
    primary = suppress_effect_table(t, rules)
    hidden = primary["suppressed"] | pre_suppressed
    reason = pd.Series(
        np.where(pre_suppressed, pre_reason, primary["suppression_reason"].fillna("")),
        index=t.index,
        dtype=object,
    )
    while True:
        sensitive = hidden & count_sensitive(reason)
        newly = _complementary_rows(t, sensitive, "n_treated", rules).union(
            _complementary_rows(t, sensitive, "n_control", rules)
        )
        if municipal is not None and len(municipal):
            newly = newly.union(_exposed_by_municipal_tables(t, hidden, reason, municipal, rules))
        if newly.empty:
            break
        hidden.loc[newly] = True
        reason.loc[newly] = COMPLEMENTARY
    out = t.copy()
    out["suppressed"], out["suppression_reason"] = hidden, reason.where(hidden, "")
    values = [c for c in WITHHELD_VALUES if c in out.columns]
    out.loc[hidden, [*values, *EFFECT_COUNT_COLS]] = np.nan
    out.loc[hidden, ["method"]] = ""
    out.loc[hidden, ["diagnostics"]] = "{}"
    shown = out.index[~hidden]
    out.loc[shown, "diagnostics"] = [
        json.dumps(publishable_diagnostics(json.loads(d), rules), sort_keys=True, default=str)
        for d in out.loc[shown, "diagnostics"]
    ]
    return out[list(table.columns)]


def disclosure_violations(
    table: pd.DataFrame,
    rules: DisclosureRules = DisclosureRules(),
    municipal: pd.DataFrame | None = None,
) -> list[str]:
    """What in a published effect table breaks the output rules (empty when it may be published).

    A pooled table is checked against the published ``municipal`` tables it adds up from: no published
    G4 row may give back a withheld municipal count. Within one table, which breakdowns nest needs
    the withheld counts themselves, so that part of complementary suppression (like the dominance
    rule, which needs the persons' amounts) is applied by ``apply_disclosure`` and tested there.
    """
    hidden_mask = table["suppressed"].astype(bool)
    shown, hidden = table[~hidden_mask], table[hidden_mask]
    problems = []
    for col in EFFECT_COUNT_COLS:
        bad = int((shown[col].astype(float) < rules.min_units).sum())
        if bad:
            problems.append(f"{bad} published rows with {col} under {rules.min_units}")
    bad_df = int(
        ((shown["df_resid"].astype(float) < rules.min_df) | shown["df_resid"].isna()).sum()
    )
    if bad_df:
        problems.append(
            f"{bad_df} published rows from a model with under {rules.min_df} degrees of freedom"
        )
    values = [c for c in WITHHELD_VALUES if c in table.columns]
    if (
        hidden[[*values, *EFFECT_COUNT_COLS]].notna().any().any()
        or (hidden["diagnostics"] != "{}").any()
        or (hidden["method"] != "").any()
    ):
        problems.append("withheld rows still show values")
    diag_problems = sorted(
        {p for d in shown["diagnostics"] for p in diagnostics_violations(json.loads(d), rules)}
    )
    problems += [f"published rows: {p}" for p in diag_problems]
    if municipal is not None and len(municipal):
        exposing = len(
            _exposed_by_municipal_tables(
                table, hidden_mask, table["suppression_reason"], municipal, rules
            )
        )
        if exposing:
            problems.append(
                f"{exposing} published rows would give back a withheld municipal count by subtraction"
            )
    return problems


# ---------------------------------------------------------------------------------------------
# Dominance
# ---------------------------------------------------------------------------------------------


def check_dominance(values, rules: DisclosureRules = DisclosureRules()) -> bool:
    """True when no single contributor exceeds ``dominance_share`` of the cell total.

    Shares use absolute values (care costs can be negative). ``dominance_share=None`` disables.
    """
    if rules.dominance_share is None:
        return True
    v = np.abs(pd.to_numeric(pd.Series(values), errors="coerce").dropna().to_numpy(dtype=float))
    total = v.sum()
    if total == 0:
        return True
    return bool(v.max() <= rules.dominance_share * total)


# ---------------------------------------------------------------------------------------------
# Diagnostics of published estimates
# ---------------------------------------------------------------------------------------------


def _name_tokens(name: str) -> set[str]:
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", name)
    return {t for t in re.split(r"[^A-Za-z0-9]+", spaced.lower()) if t}


# Extremes over aggregates (covariate balance), not over persons: publishable.
_AGGREGATE_EXTREMES = frozenset({"max_abs_smd_before", "max_abs_smd_after"})
# Counts left out of published diagnostics: whole-sample counts that add up exactly across subgroups
# and municipalities whatever the design's arms or bandwidth (next to another row they would let a
# reader subtract a withheld group's size), and person-month counts that may come from one person.
NESTING_COUNT_KEYS = frozenset(
    {
        "n_input",
        "n_left_total",
        "n_right_total",
        "binomial_n_left",
        "binomial_n_right",
        "density_n_left",
        "density_n_right",
        # person-months at the event-study window's ends: one parent can make 12
        "n_binned_low",
        "n_binned_high",
    }
)
SMALL_COUNT = "<{}"


def _is_count_key(key: str) -> bool:
    """A top-level count (n_..., ..._n_..., clusters); nested keys name covariates, e.g.
    smd_before.n_children."""
    tokens = _name_tokens(key)
    return "." not in key and ("n" in tokens or "clusters" in tokens or "count" in tokens)


def publishable_diagnostics(diagnostics: dict, rules: DisclosureRules = DisclosureRules()) -> dict:
    """The diagnostics of a published estimate that the output rules allow.

    Dropped: minima and maxima of individual values (propensity extremes, the smallest event-time
    cell) and whole-sample counts that add up across rows. Counts of 1 to ``min_units - 1``
    (trimmed persons, observations near the cutoff) show as "<10".
    """
    out = {}
    for key, value in diagnostics.items():
        leaf = key.split(".")[-1]
        if leaf not in _AGGREGATE_EXTREMES and _name_tokens(leaf) & _EXTREME_TOKENS:
            continue
        if key in NESTING_COUNT_KEYS:
            continue
        if (
            _is_count_key(key)
            and isinstance(value, (int, np.integer))
            and not isinstance(value, bool)
            and 0 < value < rules.min_units
        ):
            value = SMALL_COUNT.format(rules.min_units)
        out[key] = value
    return out


def diagnostics_violations(
    diagnostics: dict, rules: DisclosureRules = DisclosureRules()
) -> list[str]:
    """What in one published row's diagnostics breaks the output rules (names only, never values)."""
    problems = []
    for key, value in diagnostics.items():
        leaf = key.split(".")[-1]
        if leaf not in _AGGREGATE_EXTREMES and _name_tokens(leaf) & _EXTREME_TOKENS:
            problems.append(f"diagnostic {key!r} is a minimum or maximum")
        elif key in NESTING_COUNT_KEYS:
            problems.append(f"diagnostic {key!r} is a whole-sample count that adds up across rows")
        elif (
            _is_count_key(key)
            and isinstance(value, (int, float, np.integer, np.floating))
            and not isinstance(value, bool)
            and 0 < value < rules.min_units
        ):
            problems.append(f"diagnostic {key!r} counts under {rules.min_units}")
    return problems


__all__ = [
    "COMPLEMENTARY",
    "DOMINANCE",
    "MODEL_DF",
    "PRIMARY",
    "DisclosureRules",
    "Nested",
    "diagnostics_violations",
    "check_dominance",
    "check_model_df",
    "exposed_by_differencing",
    "fewer_than",
    "publishable_diagnostics",
    "suppress_bins",
    "suppress_cells",
    "suppress_effect_table",
]
