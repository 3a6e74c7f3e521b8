"""Which instrument for whom: the assignment rule a caseworker could follow, learned and valued.

The population and outcome are those of the instrument comparison (``designs.instrument_choice_sample``):
every month on bijstand of a person without an instrument yet, each instrument or waiting, and
regular work a year later. The rule splits on what a caseworker knows at the intake.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from wi_pipeline.estimation._inference import holm
from wi_pipeline.estimation.policy import BEST_SINGLE, OBSERVED
from wi_pipeline.lib.designs import (
    PLACEBO_MONTHS,
    PLACEBO_OUTCOME,
    WAIT,
    instrument_choice_sample,
    usable_covariates,
)
from wi_pipeline.lib.disclosure import NOT_ESTIMABLE, DisclosureRules, fewer_than
from wi_pipeline.lib.effects import (
    POOLED,
    SHARE,
    WHAT_WORKS_OUTCOME,
    _municipality_effects,
    pooled_design,
)

RULE_OUTCOME = f"{WHAT_WORKS_OUTCOME[0]}_h{WHAT_WORKS_OUTCOME[1]}"

# What the rule may split on: plain-language column -> how it is made from the design sample.
# The first six are the subgroup columns (also in the synthetic truth's potential outcomes).
AGE_BANDS = ("18-26", "27-39", "40-54", "55+")
CHILDREN_BANDS = ("0", "1", "2", "3+")
DURATION_BANDS = (
    "under 6 months",
    "6-11 months",
    "12-23 months",
    "24-35 months",
    "36 months or more",
)
WORK_BANDS = ("none", "1-3 months", "4-6 months", "7-12 months")
SUBGROUP_FEATURES = ("sex", "age band", "children", "marital status", "health", "origin")
HISTORY_FEATURES = ("time on bijstand", "months worked in the last year", "problematic debt")
RULE_FEATURES = (*SUBGROUP_FEATURES, *HISTORY_FEATURES)


def _ordered(values, categories) -> pd.Categorical:
    return pd.Categorical(values, categories=list(categories), ordered=True)


def rule_features(df: pd.DataFrame) -> pd.DataFrame:
    """The rule's features as readable columns (ordered bands where order means something).

    Works on the design sample and on any frame with the subgroup columns; the history features
    are added where their source columns are present."""
    out = pd.DataFrame(index=df.index)
    out["sex"] = (
        df["sex"].astype(str).map({"vrouw": "woman", "man": "man"}).fillna(df["sex"].astype(str))
    )
    out["age band"] = _ordered(df["age_band"].astype(str), AGE_BANDS)
    out["children"] = _ordered(df["children"].astype(str), CHILDREN_BANDS)
    out["marital status"] = df["marital_status"].astype(str).str.replace("_", " ")
    out["health"] = df["health"].astype(str).where(df["health"].notna(), "unknown")
    out["origin"] = df["origin"].astype(str)
    if "duration" in df:
        months = df["duration"].astype(float)
        out["time on bijstand"] = _ordered(
            np.array(DURATION_BANDS, dtype=object)[
                np.searchsorted([6, 12, 24, 36], months, side="right")
            ],
            DURATION_BANDS,
        )
    if "employed_share_12" in df:
        worked = np.rint(df["employed_share_12"].astype(float) * 12)
        out["months worked in the last year"] = _ordered(
            np.array(WORK_BANDS, dtype=object)[np.searchsorted([1, 4, 7], worked, side="right")],
            WORK_BANDS,
        )
    if "problematic_debt" in df:
        out["problematic debt"] = np.where(
            df["problematic_debt"].astype("boolean").fillna(False), "yes", "no"
        )
    return out


RULE_DEPTH = 2  # two questions a caseworker can ask at the intake
RULE_FOLDS = 5
RULE_HOLDOUT = 0.5  # share of the persons the rule is valued on, after it was learned on the others
MIN_LEAF_SHARE = 0.05  # each group of the rule holds at least this share of the learning rows
# An instrument the rule may give has at least this many starters: with fewer, what it does for one
# group of the rule is mostly noise. (It still counts in today's assignment and the comparisons.)
CANDIDATE_MIN_PERSONS = 50
ASSIGNMENT_COLUMNS = [
    "gemeente",
    "section",
    "item",
    "arm",
    "share_given",
    "estimate",
    "std_error",
    "ci_low",
    "ci_high",
    "p_value",
    "p_adjusted",
    "robustness_value",
    "robustness_value_95",
    "population_share",
    "n_persons",
    "n_persons_arm",
    "outcome",
    "unit",
    "method",
    "suppressed",
    "suppression_reason",
]


@dataclass
class AssignmentRuleOutput:
    table: pd.DataFrame
    policy: object  # the AssignmentPolicy (stays in the secure environment: it holds the scores)
    in_words: str
    persons_per_arm: dict


def _row(gemeente: str, section: str, item: str, result=None, **extra) -> dict:
    row = {c: np.nan for c in ASSIGNMENT_COLUMNS}
    row.update(
        gemeente=gemeente,
        section=section,
        item=item,
        arm="",
        suppressed=False,
        suppression_reason="",
        outcome=RULE_OUTCOME,
        unit=SHARE,
        method="",
    )
    if result is not None:
        row.update(
            estimate=result.estimate,
            std_error=result.std_error,
            ci_low=result.ci_low,
            ci_high=result.ci_high,
            p_value=result.p_value,
            method=result.method,
        )
        row["robustness_value"] = result.diagnostics.get("robustness_value", np.nan)
        row["robustness_value_95"] = result.diagnostics.get("robustness_value_95", np.nan)
    row.update(extra)
    return row


def assignment_sample(panels: dict[str, pd.DataFrame]) -> tuple[pd.DataFrame, list[str]]:
    """The instrument comparison's population with the outcome observed, the rule's features added,
    and the covariates of the comparison (the design adds the panels' history when they lack it)."""
    outcome, horizon = WHAT_WORKS_OUTCOME
    design = pooled_design(panels, instrument_choice_sample, horizons=(horizon,))
    df = design.data
    covariates = usable_covariates(df, [*design.covariates, *_municipality_effects(df)])
    df = df[df[RULE_OUTCOME].notna()].reset_index(drop=True)
    feats = rule_features(df)
    df = pd.concat([df.drop(columns=[c for c in feats if c in df]), feats], axis=1)
    return df, covariates


def learn_assignment_rule(
    panels: dict[str, pd.DataFrame],
    gemeente: str,
    rules: DisclosureRules = DisclosureRules(),
    depth: int = RULE_DEPTH,
    capacities: dict | None = None,
    costs: dict | None = None,
    seed: int = 0,
) -> AssignmentRuleOutput:
    """The rule for one municipality ({gemeente: panel}) or pooled (``gemeente`` = 'G4'), its value and
    gains out of sample, each instrument's robustness to hidden confounding and the placebo, as a
    publishable table (disclosure control applied)."""
    from wi_pipeline.estimation import learn_assignment_policy

    df, covariates = assignment_sample(panels)
    persons = df.groupby("arm")["pseudo_id"].nunique().to_dict()
    min_node = max(rules.min_units, int(np.ceil(MIN_LEAF_SHARE * (1 - RULE_HOLDOUT) * len(df))))
    candidates = [a for a, n in persons.items() if n >= CANDIDATE_MIN_PERSONS or a == WAIT]
    try:
        policy = learn_assignment_policy(
            df,
            RULE_OUTCOME,
            "arm",
            covariates,
            list(RULE_FEATURES),
            depth=depth,
            capacities=capacities or None,
            costs=costs or None,
            folds=RULE_FOLDS,
            cluster="pseudo_id",
            weights="sampling_weight",
            min_node_size=min_node,
            candidate_arms=candidates,
            holdout=RULE_HOLDOUT,
            seed=seed,
        )
    except (ValueError, np.linalg.LinAlgError):
        # the estimator's message can hold small counts (an arm's rows): it stays out of published text
        reason = f"{NOT_ESTIMABLE}: too few persons to learn a rule on half of them and value it on the rest"
        row = _row(
            gemeente, "value", "following the rule", suppressed=True, suppression_reason=reason
        )
        table = pd.DataFrame([row])[ASSIGNMENT_COLUMNS]
        where = "the four cities together" if gemeente == POOLED else gemeente
        return AssignmentRuleOutput(
            table,
            None,
            f"**Assignment rule for {where}**: no rule could be learned ({reason}).",
            persons,
        )
    shown = [a for a in policy.arms if persons.get(a, 0) >= rules.min_units]
    rows = _leaf_rows(policy, gemeente, rules)
    rows.append(_row(gemeente, "value", "following the rule", policy.value))
    rows.append(_row(gemeente, "value", "today's assignment", policy.observed_value))
    values = policy.arm_values()
    for arm in policy.arms:
        v = values.loc[arm]
        r = _row(
            gemeente,
            "value",
            f"everyone {_arm_words(arm)}",
            arm=arm,
            estimate=v["estimate"],
            std_error=v["std_error"],
            ci_low=v["ci_low"],
            ci_high=v["ci_high"],
            n_persons_arm=persons.get(arm, 0),
        )
        rows.append(_withheld(r, rules) if arm not in shown else r)
    best = policy.best_arm
    for baseline, item in (
        (OBSERVED, "over today's assignment"),
        (BEST_SINGLE, f"over everyone {_arm_words(best)} (the arm best on average)"),
        (WAIT, "over everyone waiting"),
    ):
        rows.append(_row(gemeente, "gain", item, policy.gain_over(baseline)))
    for arm in policy.arms:
        if arm == WAIT:
            continue
        r = _row(
            gemeente,
            "effect",
            f"{_arm_words(arm)} vs waiting",
            policy.contrast(arm, WAIT),
            arm=arm,
            n_persons_arm=persons.get(arm, 0),
        )
        rows.append(r if arm in shown else _withheld(r, rules))
    placebo = policy.placebo(df, PLACEBO_OUTCOME, reference=WAIT)
    placebo["p_adjusted"] = holm(placebo["p_value"].to_numpy())
    for rec in placebo.to_dict("records"):
        arm = rec["comparison"].split(" vs ")[0]
        item = (
            f"{_arm_words(arm)} vs waiting"
            if arm in policy.arms
            else "the rule vs today's assignment"
        )
        r = _row(
            gemeente,
            "placebo",
            item,
            arm=arm if arm in policy.arms else "",
            **{
                k: rec[k]
                for k in ("estimate", "std_error", "ci_low", "ci_high", "p_value", "p_adjusted")
            },
            outcome=PLACEBO_OUTCOME,
            method=policy.method,
        )
        rows.append(_withheld(r, rules) if arm in policy.arms and arm not in shown else r)
    table = pd.DataFrame(rows)[ASSIGNMENT_COLUMNS]
    blank = table["estimate"].isna() & ~table["suppressed"]
    table.loc[blank, "suppressed"] = True
    table.loc[blank, "suppression_reason"] = (
        f"{NOT_ESTIMABLE}: too few persons with this outcome observed"
    )
    return AssignmentRuleOutput(table, policy, assignment_in_words(table, gemeente), persons)


def _withheld(row: dict, rules: DisclosureRules) -> dict:
    """Blank a row's figures, and its person count: a count under the minimum is itself a small cell."""
    for c in (
        "estimate",
        "std_error",
        "ci_low",
        "ci_high",
        "p_value",
        "p_adjusted",
        "robustness_value",
        "robustness_value_95",
        "n_persons_arm",
    ):
        row[c] = np.nan
    row["suppressed"] = True
    row["suppression_reason"] = fewer_than(rules, "persons in an arm")
    return row


def _leaf_rows(policy, gemeente: str, rules: DisclosureRules) -> list[dict]:
    rows = []
    for leaf in policy.rules.to_dict("records"):
        small_leaf = leaf["n_units"] < rules.min_units
        given = policy.allocation[leaf["leaf"] - 1]
        for k, arm in enumerate(policy.arms):
            est, se = leaf[f"expected_{arm}"], leaf[f"std_error_{arm}"]
            r = _row(
                gemeente,
                "leaf",
                leaf["rule"],
                arm=arm,
                share_given=float(given[k]),
                estimate=est,
                std_error=se,
                ci_low=est - 1.959964 * se,
                ci_high=est + 1.959964 * se,
                population_share=leaf["population_share"],
                n_persons=leaf["n_units"],
                n_persons_arm=leaf[f"n_units_{arm}"],
                method=policy.method,
            )
            if small_leaf or leaf[f"n_units_{arm}"] < rules.min_units:
                r = _withheld(r, rules)
                if small_leaf:
                    r["n_persons"], r["population_share"], r["share_given"] = np.nan, np.nan, np.nan
                    r["suppression_reason"] = fewer_than(rules, "persons in this group")
            rows.append(r)
    return rows


def _arm_words(arm: str) -> str:
    return "waiting" if arm == WAIT else arm.replace("_", " ")


def _pp(x: float) -> str:
    return f"{100 * x:.1f}%"


def _interval(r) -> str:
    return f"95% interval {100 * r['ci_low']:.1f} to {100 * r['ci_high']:.1f}"


def assignment_in_words(table: pd.DataFrame, gemeente: str) -> str:
    """The rule and what it is worth, for a policy officer: first whether following it would beat
    today's assignment (percentage points, 95% interval, and whether the data can tell), then who
    would get what, then the checks on hidden selection."""
    t = table[table["gemeente"] == gemeente]
    where = "the four cities together" if gemeente == POOLED else gemeente
    lines = [
        f"**Assignment rule for {where}**: which instrument to offer whom, learned from who reached regular "
        "work a year after the choice, among everyone on bijstand without an instrument yet."
    ]
    value = t[(t["section"] == "value") & (t["item"] == "following the rule")]
    today = t[(t["section"] == "value") & (t["item"] == "today's assignment")]
    gains = t[t["section"] == "gain"].set_index("item")
    over_today = (
        gains.loc["over today's assignment"] if "over today's assignment" in gains.index else None
    )
    if len(value) and len(today) and over_today is not None:
        clear = over_today["ci_low"] > 0
        lines.append(
            f"\nFollowing the rule: {_pp(value.iloc[0]['estimate'])} in regular work "
            f"({_interval(value.iloc[0])}); today's assignment: {_pp(today.iloc[0]['estimate'])}. "
            f"Gain: {100 * over_today['estimate']:+.1f} percentage points ({_interval(over_today)})."
        )
        lines.append(
            "The rule does better than today's assignment."
            if clear
            else "**With these data the rule cannot be told apart from today's assignment.** "
            "The groups below show what the data suggest, not a recommendation to act on."
        )
    lines.append(
        "\nThe rule, with each group's expected share in regular work under the instrument it is given. "
        "The rule was learned on half of the persons; every figure here is estimated on the other half:"
    )
    for rule, part in t[t["section"] == "leaf"].groupby("item", sort=False):
        given = part[part["share_given"] > 0].sort_values("share_given", ascending=False)
        if given.empty:
            lines.append(f"- {rule}: withheld (fewer than 10 persons in this group)")
            continue
        offer = " / ".join(
            _arm_words(a) + ("" if s == 1 else f" ({s:.0%})")
            for a, s in zip(given["arm"], given["share_given"])
        )
        top = given.iloc[0]
        wait = part[part["arm"] == WAIT].iloc[0]
        expect = "withheld" if top["suppressed"] else _pp(top["estimate"])
        vs = (
            ""
            if wait["suppressed"] or top["arm"] == WAIT
            else f" (waiting: {_pp(wait['estimate'])})"
        )
        lines.append(
            f"- {rule[0].upper() + rule[1:]} ({top['population_share']:.0%} of the population): "
            f"**{offer}**, {expect}{vs}."
        )
    others = [(item, g) for item, g in gains.iterrows() if item != "over today's assignment"]
    if others:
        lines.append("\nThe rule against simpler choices, on the same persons:")
    for item, g in others:
        verdict = (
            "clearly better"
            if g["ci_low"] > 0
            else "clearly worse"
            if g["ci_high"] < 0
            else "cannot be told apart"
        )
        lines.append(
            f"- Against {item.removeprefix('over ')}: {100 * g['estimate']:+.1f} percentage points "
            f"({_interval(g)}): {verdict}."
        )
    if (
        over_today is not None
        and over_today["ci_low"] > 0
        and np.isfinite(over_today["robustness_value_95"])
    ):
        rv = over_today["robustness_value_95"]
        lines.append(
            f"\nHidden confounding: a factor missing from the data would have to explain {rv:.0%} of both "
            "the remaining differences in regular work and of who gets which instrument before the gain "
            "over today's assignment could be zero."
            + (
                " That is a weak factor: the gain rests on the data holding what caseworkers base their "
                "choice on; the placebo check below tests part of that."
                if rv < 0.05
                else ""
            )
        )
    withheld = t[t["suppressed"].astype(bool)]
    if len(withheld):
        n = len(withheld)
        lines.append(
            f"\n{n} figure{'s are' if n > 1 else ' is'} withheld: resting on fewer than 10 persons (or not "
            "estimable), a figure could point to individuals."
        )
    placebo = t[(t["section"] == "placebo") & ~t["suppressed"]]
    if len(placebo):
        flagged = placebo[placebo["p_adjusted"] < 0.05]
        lines.append(
            f"\nPlacebo check (employment {PLACEBO_MONTHS[0]}-{PLACEBO_MONTHS[1]} months before the "
            "choice, which no instrument can change): "
            + (
                "no difference beyond chance (Holm-adjusted)."
                if flagged.empty
                else f"differences beyond chance for {', '.join(flagged['item'])}: people who start these "
                "instruments differed in ways the covariates do not capture; read their effects with care."
            )
        )
    return "\n".join(lines)


def assignment_disclosure_violations(table: pd.DataFrame, rules: DisclosureRules) -> list[str]:
    """Published numbers of the rule's table that rest on too few persons, and published counts
    under the minimum (a withheld row's count included)."""
    problems = []
    for col, what in (("n_persons", "group of the rule"), ("n_persons_arm", "arm")):
        small = table[table[col].notna() & (table[col] < rules.min_units)]
        problems += [
            f"{r.section} '{r.item}' {r.arm}: {what} with {int(getattr(r, col))} persons"
            for r in small.itertuples()
        ]
    return problems
