"""The assignment rule per municipality and pooled over the G4: which instrument for whom."""

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

from wi_pipeline.defs.checks import emit_guarded, no_identifiers_result, no_identifiers_spec
from wi_pipeline.defs.effects.assets import DISCLOSURE, EffectSettings, _image
from wi_pipeline.defs.keys import PANEL_KEY, by_partition
from wi_pipeline.defs.metadata import REGISTER_EXTRACTS, built_from, register_extracts
from wi_pipeline.defs.partitions import g4_partitions
from wi_pipeline.lib.assignment import (
    RULE_DEPTH,
    assignment_disclosure_violations,
    learn_assignment_rule,
)
from wi_pipeline.lib.effects import POOLED
from wi_pipeline.lib.linkage import same_key
from wi_pipeline.lib.plots import assignment_rule_plot

RULE_KEY = AssetKey(["reports", "assignment_rule"])
RULE_G4_KEY = AssetKey(["reports", "assignment_rule_g4"])


class AssignmentSettings(ConfigurableResource):
    """How the rule is learned: its depth (questions a caseworker asks), the largest share of the
    population each instrument can take ({"scholing": 0.02}; none = no limit), and a cost per
    instrument in units of the outcome (0.01 = one percentage point of regular work)."""

    depth: int = RULE_DEPTH
    capacities: dict[str, float] = {}
    costs: dict[str, float] = {}


_DESCRIPTION = (
    "Which instrument to offer whom: a two-question rule over what a caseworker knows (sex, age band, "
    "children, marital status, health, origin, time on bijstand, months worked in the last year, "
    "problematic debt), learned to maximise regular work a year after the choice among everyone on "
    "bijstand without an instrument yet. With its value out of sample, its gain over today's "
    "assignment and over one instrument for everyone (95% intervals), how strong a hidden confounder "
    "would have to be, and a placebo check on work before the choice. Groups and numbers with fewer "
    "than 10 persons are withheld."
)


def _disclosure_spec(key: AssetKey) -> AssetCheckSpec:
    return AssetCheckSpec(
        DISCLOSURE,
        asset=key,
        blocking=True,
        description="Every published group of the rule and every published number rests on 10+ "
        "persons; withheld ones are marked and blanked.",
    )


def _outputs(
    key: AssetKey,
    panels: dict,
    gemeente: str,
    effect_settings: EffectSettings,
    settings: AssignmentSettings,
    extra_meta: dict,
    extracts: dict | None = None,
):
    rules = effect_settings.rules
    out = learn_assignment_rule(
        panels,
        gemeente,
        rules,
        depth=settings.depth,
        capacities=dict(settings.capacities),
        costs=dict(settings.costs),
    )
    table = out.table
    if extracts is not None:  # stored with it: the reports built on it say so
        table.attrs[REGISTER_EXTRACTS] = extracts
    problems = assignment_disclosure_violations(table, rules)
    gains = table[table["section"].isin(["value", "gain"])]
    meta = {
        "dagster/row_count": len(table),
        "in_words": MetadataValue.md(out.in_words),
        "rule": _image(
            assignment_rule_plot(table, f"Assignment rule, {gemeente}"), "assignment rule"
        ),
        "value_and_gains": MetadataValue.md(
            gains[["item", "estimate", "ci_low", "ci_high", "p_value", "robustness_value_95"]]
            .round(4)
            .to_markdown(index=False)
        ),
        **extra_meta,
    }
    if out.policy is not None:
        meta["diagnostics"] = MetadataValue.json(
            {k: (v.item() if hasattr(v, "item") else v) for k, v in out.policy.diagnostics.items()}
        )
        meta["method"] = out.policy.method
    checks = [
        no_identifiers_result(table, key, published=True),
        AssetCheckResult(
            asset_key=key,
            check_name=DISCLOSURE,
            passed=not problems,
            metadata={
                "problems": MetadataValue.md("\n".join(f"- {p}" for p in problems) or "none"),
                "withheld": int(table["suppressed"].sum()),
            },
        ),
    ]
    yield from emit_guarded([(None, table, meta)], checks)


_COMMON = dict(
    group_name="reports",
    kinds={"pandas", "parquet"},
    owners=["team:research"],
    description=_DESCRIPTION,
)


@asset(
    key=RULE_KEY,
    ins={"linked_panel": AssetIn(PANEL_KEY)},
    partitions_def=g4_partitions,
    check_specs=[no_identifiers_spec(RULE_KEY, published=True), _disclosure_spec(RULE_KEY)],
    **_COMMON,
)
def assignment_rule(
    context: AssetExecutionContext,
    effect_settings: EffectSettings,
    assignment_settings: AssignmentSettings,
    linked_panel: pd.DataFrame,
):
    gemeente = context.partition_key
    yield from _outputs(
        RULE_KEY,
        {gemeente: linked_panel},
        gemeente,
        effect_settings,
        assignment_settings,
        built_from(register_extracts(linked_panel)),
        register_extracts(linked_panel),
    )


@asset(
    key=RULE_G4_KEY,
    ins={"linked_panel": AssetIn(PANEL_KEY)},
    automation_condition=AutomationCondition.eager(),
    check_specs=[no_identifiers_spec(RULE_G4_KEY, published=True), _disclosure_spec(RULE_G4_KEY)],
    **_COMMON,
)
def assignment_rule_g4(
    context: AssetExecutionContext,
    effect_settings: EffectSettings,
    assignment_settings: AssignmentSettings,
    linked_panel: dict,
):
    fingerprint = same_key(by_partition(PANEL_KEY, linked_panel))
    yield from _outputs(
        RULE_G4_KEY,
        linked_panel,
        POOLED,
        effect_settings,
        assignment_settings,
        {"key_fingerprint": fingerprint or ""},
    )
