"""Effect estimates per municipality and pooled over the G4, and the what-works-for-whom table."""

import base64

import pandas as pd
from dagster import (
    AssetCheckResult,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetIn,
    AssetKey,
    AutomationCondition,
    ConfigurableResource,
    MetadataValue,
    asset,
)

from wi_pipeline.defs.checks import (
    emit_guarded,
    gx_suite_result,
    gx_suite_spec,
    no_identifiers_result,
    no_identifiers_spec,
)
from wi_pipeline.defs.keys import EFFECT_TABLE_G4_KEY, EFFECT_TABLE_KEY, PANEL_KEY, by_partition
from wi_pipeline.defs.metadata import REGISTER_EXTRACTS, built_from, register_extracts
from wi_pipeline.defs.partitions import g4_partitions
from wi_pipeline.lib.designs import SUBGROUPS, WAIT
from wi_pipeline.lib.disclosure import DisclosureRules, apply_disclosure, disclosure_violations
from wi_pipeline.lib.effects import (
    CHOICE,
    POOLED,
    WHAT_WORKS_OUTCOME,
    ExemptionFits,
    estimate_all,
    exemption_staggered_points,
    power_in_words,
    sensitivity_in_words,
    tailoring_in_words,
    what_works_for_whom,
)
from wi_pipeline.lib.layout import SRG_CATEGORIES
from wi_pipeline.lib.linkage import same_key
from wi_pipeline.lib.plots import (
    event_study_plot,
    event_study_points,
    exemption_figures,
    forest_plot,
    rd_plot,
    rd_plot_bins,
    rd_sensitivity_plot,
    rd_sensitivity_points,
)

TABLE_KEY, G4_KEY = EFFECT_TABLE_KEY, EFFECT_TABLE_G4_KEY
WWFW_KEY = AssetKey(["reports", "what_works_for_whom"])
DISCLOSURE = "disclosure_control"
EFFECT_SUITE = (
    "effects_effect_table"  # one suite for every effect table, per municipality or pooled
)


class EffectSettings(ConfigurableResource):
    """Which subgroup dimensions to estimate heterogeneity for (sex, children, marital_status, health,
    age_band, origin; fewer make a quicker run), and the output rules of the secure environment the
    tables are exported from (CBS: 10 persons, 10 degrees of freedom; the dominance share is set by
    third parties, None switches it off)."""

    subgroups: list[str] = list(SUBGROUPS)
    min_persons: int = 10
    min_degrees_of_freedom: int = 10
    dominance_share: float | None = 0.5

    @property
    def rules(self) -> DisclosureRules:
        return DisclosureRules(
            min_units=self.min_persons,
            min_df=self.min_degrees_of_freedom,
            dominance_share=self.dominance_share,
        )


def _image(png: bytes, alt: str) -> MetadataValue:
    return MetadataValue.md(f"![{alt}](data:image/png;base64,{base64.b64encode(png).decode()})")


def _disclosure_spec(key: AssetKey) -> AssetCheckSpec:
    return AssetCheckSpec(
        DISCLOSURE,
        asset=key,
        blocking=True,
        description="Every published estimate has 10+ persons per arm and a model with 10+ degrees "
        "of freedom; withheld estimates are marked and blanked, never dropped.",
    )


def _disclosure_result(
    table: pd.DataFrame,
    key: AssetKey,
    rules: DisclosureRules,
    municipal: pd.DataFrame | None = None,
) -> AssetCheckResult:
    problems = disclosure_violations(table, rules, municipal)
    return AssetCheckResult(
        asset_key=key,
        check_name=DISCLOSURE,
        passed=not problems,
        metadata={
            "problems": MetadataValue.md("\n".join(f"- {p}" for p in problems) or "none"),
            "withheld": int(table["suppressed"].sum()),
            "published": int((~table["suppressed"]).sum()),
        },
    )


def _overview(table: pd.DataFrame) -> MetadataValue:
    t = table[(table["subgroup"] == "all") & ~table["suppressed"]]
    cols = [
        "measure",
        "outcome",
        "horizon",
        "contrast",
        "unit",
        "estimate",
        "ci_low",
        "ci_high",
        "rank_low",
        "rank_high",
        "n_treated",
        "n_control",
    ]
    return MetadataValue.md(
        t[cols].round(4).to_markdown(index=False) if len(t) else "no publishable estimates"
    )


def _checks(
    table: pd.DataFrame,
    key: AssetKey,
    rules: DisclosureRules,
    municipal: pd.DataFrame | None = None,
) -> list[AssetCheckResult]:
    return [
        gx_suite_result(table, key, suite=EFFECT_SUITE),
        no_identifiers_result(table, key, published=True),
        _disclosure_result(table, key, rules, municipal),
    ]


def _what_works_rows(table: pd.DataFrame) -> pd.DataFrame:
    outcome, horizon = WHAT_WORKS_OUTCOME
    return table[
        (table["measure"] == CHOICE) & (table["outcome"] == outcome) & (table["horizon"] == horizon)
    ]


def _forest(table: pd.DataFrame, instrument: str) -> bytes | None:
    """One instrument against waiting, per subgroup."""
    rows = _what_works_rows(table)
    rows = rows[rows["contrast"] == f"{instrument} vs {WAIT}"]
    outcome, horizon = WHAT_WORKS_OUTCOME
    return (
        forest_plot(rows, f"{instrument} vs waiting: regular work {horizon} months later")
        if len(rows)
        else None
    )


def _comparison(table: pd.DataFrame) -> bytes | None:
    """Every instrument against waiting on one population, labelled with its 95% rank set."""
    rows = _what_works_rows(table)
    rows = rows[rows["subgroup"] == "all"].sort_values(
        "estimate", ascending=False, na_position="last"
    )
    if rows.empty:
        return None
    labels = [
        c.split(" vs ")[0]
        + (
            ""
            if pd.isna(lo)
            else f"  (rank {int(lo)}-{int(hi)})"
            if lo != hi
            else f"  (rank {int(lo)})"
        )
        for c, lo, hi in zip(rows["contrast"], rows["rank_low"], rows["rank_high"])
    ]
    outcome, horizon = WHAT_WORKS_OUTCOME
    return forest_plot(
        rows, f"Each instrument against waiting: regular work {horizon} months later", labels=labels
    )


def _rd_robustness_table(table: pd.DataFrame) -> MetadataValue:
    """The published RD estimates and their robustness rows in percentage points (withheld rows blank)."""
    parts = [
        rd_sensitivity_points(table, fuzzy).assign(estimand="LATE" if fuzzy else "reduced form")
        for fuzzy in (False, True)
    ]
    t = pd.concat(parts, ignore_index=True)
    if t.empty:
        return MetadataValue.md("no RD estimates")
    for c in ("estimate", "ci_low", "ci_high"):
        t[f"{c}_pp"] = (t[c] * 100).round(2)
    t["withheld"] = t["suppressed"].map({True: "yes", False: ""})
    cols = ["estimand", "label", "bandwidth", "estimate_pp", "ci_low_pp", "ci_high_pp", "withheld"]
    return MetadataValue.md(t[cols].round({"bandwidth": 1}).to_markdown(index=False))


_COMMON = dict(kinds={"pandas", "parquet"}, owners=["team:research"])


@asset(
    key=TABLE_KEY,
    ins={"linked_panel": AssetIn(PANEL_KEY)},
    partitions_def=g4_partitions,
    group_name="effects",
    check_specs=[
        gx_suite_spec(TABLE_KEY, EFFECT_SUITE),
        no_identifiers_spec(TABLE_KEY, published=True),
        _disclosure_spec(TABLE_KEY),
    ],
    description="Effect of each measure in this municipality, overall and per subgroup: "
    "estimate, standard error, "
    "95% interval, p-value (and Holm-adjusted across subgroups), persons per arm, method and diagnostics. "
    "Estimates with too few persons in an arm (10 under the CBS rules) are withheld and marked.",
    **_COMMON,
)
def effect_table(
    context: AssetExecutionContext, effect_settings: EffectSettings, linked_panel: pd.DataFrame
):
    gemeente = context.partition_key
    rules = effect_settings.rules
    table = apply_disclosure(
        estimate_all({gemeente: linked_panel}, gemeente, effect_settings.subgroups, rules), rules
    )
    table.attrs[REGISTER_EXTRACTS] = register_extracts(
        linked_panel
    )  # stored with it: the reports built on it say so
    meta = {
        "dagster/row_count": len(table),
        "overall_estimates": _overview(table),
        "withheld": int(table["suppressed"].sum()),
        "power": MetadataValue.md(power_in_words(table)),
        **built_from(table.attrs[REGISTER_EXTRACTS]),
    }
    png = _comparison(table)
    if png:
        meta["instruments_compared"] = _image(png, "instruments against waiting")
    yield from emit_guarded([(None, table, meta)], _checks(table, TABLE_KEY, rules))


@asset(
    key=G4_KEY,
    ins={"linked_panel": AssetIn(PANEL_KEY), "effect_table": AssetIn(TABLE_KEY)},
    group_name="effects",
    automation_condition=AutomationCondition.eager(),
    check_specs=[
        gx_suite_spec(G4_KEY, EFFECT_SUITE),
        no_identifiers_spec(G4_KEY, published=True),
        _disclosure_spec(G4_KEY),
    ],
    description="The same estimates pooled over the four cities with municipality fixed effects, "
    "plus the forest, "
    "RD (binned means; bandwidth sensitivity, placebo cutoffs and donut) and event-study plots. A pooled "
    "estimate is also withheld when, next to the published municipal tables, it would give back a "
    "withheld municipal count. Rebuilds automatically once the municipalities have updated.",
    **_COMMON,
)
def effect_table_g4(
    context: AssetExecutionContext,
    effect_settings: EffectSettings,
    linked_panel: dict,
    effect_table: dict,
):
    rules = effect_settings.rules
    # panels pseudonymised with different keys describe different pseudonyms: never pool them
    fingerprint = same_key(by_partition(PANEL_KEY, linked_panel))
    municipal = pd.concat(effect_table.values(), ignore_index=True) if effect_table else None
    fits = ExemptionFits()  # the RD sample and event studies the plots are drawn from, made once
    table = apply_disclosure(
        estimate_all(linked_panel, POOLED, effect_settings.subgroups, rules, fits), rules, municipal
    )
    meta = {
        "dagster/row_count": len(table),
        "overall_estimates": _overview(table),
        "withheld": int(table["suppressed"].sum()),
        "key_fingerprint": fingerprint or "",
        "power": MetadataValue.md(power_in_words(table)),
        "parallel_trend_sensitivity": MetadataValue.md(sensitivity_in_words(table)),
    }
    png = _comparison(table)
    if png:
        meta["instruments_compared"] = _image(png, "instruments against waiting")
    for cat in SRG_CATEGORIES:
        png = _forest(table, cat)
        if png:
            meta[f"forest_{cat}"] = _image(png, f"forest plot {cat}")
    bins = rd_plot_bins(fits.rd_sample, rules=rules)
    meta["rd_plot"] = _image(rd_plot(bins), "binned RD plot")
    meta["rd_robustness"] = _rd_robustness_table(table)
    meta["rd_bandwidth_sensitivity"] = _image(
        rd_sensitivity_plot(table, rules), "RD bandwidth sensitivity"
    )
    points, pretrend = exemption_staggered_points(fits)
    meta["event_study_plot"] = _image(event_study_plot(points, rules), "staggered event-study plot")
    meta["event_study_pretrend_test"] = pretrend
    # stored with the table for the policy report: both disclosure-controlled, without person counts
    table.attrs["figures"] = exemption_figures(bins, event_study_points(points, rules))
    yield from emit_guarded([(None, table, meta)], _checks(table, G4_KEY, rules, municipal))


@asset(
    key=WWFW_KEY,
    ins={"effect_table_g4": AssetIn(G4_KEY), "effect_table": AssetIn(TABLE_KEY)},
    group_name="reports",
    automation_condition=AutomationCondition.eager(),
    check_specs=[no_identifiers_spec(WWFW_KEY, published=True)],
    description="What works for whom: per subgroup, every instrument against waiting on regular "
    "work a year after "
    "the start, all compared on one population (everyone on bijstand without an instrument yet). Effects in "
    "percentage points with 95% intervals, the 95% rank set, whether the instrument can be the "
    "best, whether it "
    "is clearly better or worse than waiting (Holm over all instruments and subgroups), and the "
    "test of whether "
    "the effect differs between groups. Pooled G4 and per municipality.",
    **_COMMON,
)
def what_works(context: AssetExecutionContext, effect_table_g4: pd.DataFrame, effect_table: dict):
    table = what_works_for_whom(
        pd.concat([effect_table_g4, *effect_table.values()], ignore_index=True)
    )
    g4 = table[(table["gemeente"] == POOLED) & (table["subgroup"] == "all")]
    cols = [
        "instrument",
        "effect_pp",
        "ci_low_pp",
        "ci_high_pp",
        "rank_set",
        "in_best_set",
        "clearly",
        "persons_started",
        "withheld_because",
    ]
    summary = "\n\n".join(tailoring_in_words(table, gm) for gm in [POOLED, *sorted(effect_table)])
    yield from emit_guarded(
        [
            (
                None,
                table,
                {
                    "dagster/row_count": len(table),
                    "in_words": MetadataValue.md(summary),
                    "g4_all": MetadataValue.md(
                        g4[cols].to_markdown(index=False) if len(g4) else "no publishable estimates"
                    ),
                },
            )
        ],
        [no_identifiers_result(table, WWFW_KEY, published=True)],
    )
