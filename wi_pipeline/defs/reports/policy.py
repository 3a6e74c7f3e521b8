"""The policy report per municipality and pooled: a self-contained HTML page, Dutch and English,
made from the published tables only."""

from datetime import date

import pandas as pd
from dagster import (
    AssetExecutionContext,
    AssetIn,
    AssetKey,
    AutomationCondition,
    MetadataValue,
    asset,
)

from wi_pipeline.defs.effects.assets import EffectSettings
from wi_pipeline.defs.keys import EFFECT_TABLE_G4_KEY, EFFECT_TABLE_KEY
from wi_pipeline.defs.metadata import built_from, register_extracts
from wi_pipeline.defs.partitions import g4_partitions
from wi_pipeline.defs.reports.assignment import RULE_G4_KEY, RULE_KEY
from wi_pipeline.lib.effects import POOLED, what_works_for_whom
from wi_pipeline.lib.policy_report import policy_report_html

REPORT_KEY = AssetKey(["reports", "policy_report"])
REPORT_G4_KEY = AssetKey(["reports", "policy_report_g4"])
_DESCRIPTION = (
    "The report for policy staff and the council, in Dutch and English: per measure who is compared "
    "with whom, the effect in percentage points, euros or hours with its 95% interval, which help can be "
    "the best and for whom, the assignment rule, the smallest effect the data can see next to what "
    "earlier research found, and what was withheld and why. Made from the published tables only. Open "
    "the stored HTML file in a browser; it needs nothing else."
)
_COMMON = dict(
    group_name="reports", kinds={"html"}, owners=["team:research"], description=_DESCRIPTION
)


def _report(
    context: AssetExecutionContext,
    gemeente: str,
    effects: pd.DataFrame,
    rule: pd.DataFrame,
    min_units: int,
    extra_meta: dict | None = None,
) -> str:
    page = policy_report_html(
        gemeente,
        effects,
        what_works_for_whom(effects),
        rule,
        as_of=date.today(),
        min_units=min_units,
    )
    context.add_output_metadata(
        {
            "how_to_read": MetadataValue.md(
                f"Open the stored HTML file `{'/'.join(context.assets_def.key.path)}"
                f"{'/' + gemeente if gemeente != POOLED else ''}.html` in a browser."
            ),
            "withheld_estimates": int(effects["suppressed"].sum()),
            **(extra_meta or {}),
        }
    )
    return page


@asset(
    key=REPORT_KEY,
    ins={"effect_table": AssetIn(EFFECT_TABLE_KEY), "assignment_rule": AssetIn(RULE_KEY)},
    partitions_def=g4_partitions,
    **_COMMON,
)
def policy_report(
    context: AssetExecutionContext,
    effect_settings: EffectSettings,
    effect_table: pd.DataFrame,
    assignment_rule: pd.DataFrame,
) -> str:
    return _report(
        context,
        context.partition_key,
        effect_table,
        assignment_rule,
        effect_settings.min_persons,
        built_from(register_extracts(effect_table, assignment_rule)),
    )


@asset(
    key=REPORT_G4_KEY,
    ins={
        "effect_table_g4": AssetIn(EFFECT_TABLE_G4_KEY),
        "assignment_rule_g4": AssetIn(RULE_G4_KEY),
    },
    automation_condition=AutomationCondition.eager(),
    **_COMMON,
)
def policy_report_g4(
    context: AssetExecutionContext,
    effect_settings: EffectSettings,
    effect_table_g4: pd.DataFrame,
    assignment_rule_g4: pd.DataFrame,
) -> str:
    return _report(
        context, POOLED, effect_table_g4, assignment_rule_g4, effect_settings.min_persons
    )
