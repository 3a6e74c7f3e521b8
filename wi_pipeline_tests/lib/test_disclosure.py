"""CBS export rules: small cells, differencing, model df, dominance; rows never dropped."""

import numpy as np
import pandas as pd
import pytest

from wi_pipeline.lib.disclosure import (
    COMPLEMENTARY,
    DOMINANCE,
    MODEL_DF,
    PRIMARY,
    DisclosureRules,
    Nested,
    check_dominance,
    check_model_df,
    suppress_bins,
    suppress_cells,
    suppress_effect_table,
)

RULES = DisclosureRules()


def _reasons(out: pd.DataFrame, key: str) -> dict:
    return dict(zip(out[key], out["suppression_reason"]))


def test_subgroup_of_nine_is_suppressed_and_blanked():
    table = pd.DataFrame(
        {"cell": ["a", "b", "c", "d"], "n": [9, 40, 35, 50], "mean": [0.1, 0.2, 0.3, 0.4]}
    )
    out = suppress_cells(table, "n", ["mean"], RULES)
    assert len(out) == len(table)
    assert _reasons(out, "cell")["a"] == PRIMARY
    row = out.set_index("cell").loc["a"]
    assert row["suppressed"] and np.isnan(row["mean"]) and np.isnan(row["n"])
    assert table["n"].tolist() == [9, 40, 35, 50]  # input untouched


def test_ten_units_is_enough():
    table = pd.DataFrame({"cell": ["a", "b"], "n": [10, 10], "mean": [1.0, 2.0]})
    assert not suppress_cells(table, "n", ["mean"], RULES)["suppressed"].any()


def test_single_suppressed_cell_of_breakdown_gets_complementary_partner():
    # The total (124) is published elsewhere, so "a" = total - b - c - d unless another cell goes.
    table = pd.DataFrame(
        {"cell": ["a", "b", "c", "d"], "n": [9, 40, 35, 50], "mean": [0.1, 0.2, 0.3, 0.4]}
    )
    out = suppress_cells(table, "n", ["mean"], RULES)
    assert _reasons(out, "cell") == {"a": PRIMARY, "b": None, "c": COMPLEMENTARY, "d": None}


def test_two_small_cells_summing_below_threshold_need_a_third():
    table = pd.DataFrame({"cell": list("abcd"), "n": [3, 4, 30, 40], "v": [1.0, 2, 3, 4]})
    out = suppress_cells(table, "n", ["v"], RULES)
    assert _reasons(out, "cell") == {"a": PRIMARY, "b": PRIMARY, "c": COMPLEMENTARY, "d": None}


def test_group_cols_keep_sub_tables_apart():
    table = pd.DataFrame(
        {
            "measure": ["m1"] * 3 + ["m2"] * 3,
            "cell": list("abcabc"),
            "n": [9, 20, 30, 15, 20, 30],
            "v": np.arange(6.0),
        }
    )
    out = suppress_cells(table, "n", ["v"], RULES, group_cols=["measure"])
    assert out.loc[out["measure"] == "m2", "suppressed"].sum() == 0
    assert out.loc[out["measure"] == "m1", "suppressed"].sum() == 2


def test_nested_groups_differing_by_three_persons():
    table = pd.DataFrame(
        {
            "group": ["all", "no_single_parents"],
            "parent": [None, "all"],
            "n": [120, 117],
            "employment": [0.31, 0.33],
        }
    )
    out = suppress_cells(table, "n", ["employment"], RULES, nested=("group", "parent"))
    assert out["suppressed"].sum() == 1  # either one, not both
    assert set(out["suppression_reason"].dropna()) == {COMPLEMENTARY}
    assert len(out) == 2


def test_suppressed_child_triggers_complementary_sibling():
    table = pd.DataFrame(
        {
            "group": ["all", "men", "women", "0 children", "1 child", "2+ children"],
            "parent": [None, "all", "all", "all", "all", "all"],
            "split": [None, "sex", "sex", "children", "children", "children"],
            "n": [150, 9, 141, 60, 50, 40],
            "effect": [0.02, 0.05, 0.01, 0.0, 0.03, 0.04],
        }
    )
    out = suppress_cells(table, "n", ["effect"], RULES, nested=Nested("group", "parent", "split"))
    assert _reasons(out, "group") == {
        "all": None,
        "men": PRIMARY,
        "women": COMPLEMENTARY,  # all - women = men otherwise
        "0 children": None,
        "1 child": None,
        "2+ children": None,
    }


def test_suppressed_child_not_recoverable_leaves_parent_published():
    # "all" (15) minus nothing published gives back "all", not the 9 women: no extra suppression.
    table = pd.DataFrame(
        {"group": ["all", "women"], "parent": [None, "all"], "n": [15, 9], "v": [1.0, 2.0]}
    )
    out = suppress_cells(table, "n", ["v"], RULES, nested=("group", "parent"))
    assert _reasons(out, "group") == {"all": None, "women": PRIMARY}


def test_nested_age_bands_over_two_levels():
    table = pd.DataFrame(
        {
            "group": ["18-64", "18-29", "30-49", "50-64", "18-24", "25-29"],
            "parent": [None, "18-64", "18-64", "18-64", "18-29", "18-29"],
            "n": [200, 30, 90, 80, 8, 22],
            "v": np.arange(6.0),
        }
    )
    out = suppress_cells(table, "n", ["v"], RULES, nested=("group", "parent"))
    reasons = _reasons(out, "group")
    assert reasons["18-24"] == PRIMARY and reasons["25-29"] == COMPLEMENTARY
    assert not out["v"].iloc[[0, 1, 2, 3]].isna().any()


def test_suppression_cascades_up_the_hierarchy():
    # Both age bands of the 9 women are primary; "women" itself is primary; then
    # "all" - "men" would give the women back, so "men" is withheld too.
    table = pd.DataFrame(
        {
            "group": ["all", "men", "women", "women <30", "women 30+"],
            "parent": [None, "all", "all", "women", "women"],
            "split": [None, "sex", "sex", "age", "age"],
            "n": [70, 61, 9, 5, 4],
            "v": np.arange(5.0),
        }
    )
    out = suppress_cells(table, "n", ["v"], RULES, nested=("group", "parent", "split"))
    assert _reasons(out, "group") == {
        "all": None,
        "men": COMPLEMENTARY,
        "women": PRIMARY,
        "women <30": PRIMARY,
        "women 30+": PRIMARY,
    }


def test_overlapping_children_without_breakdown_are_refused():
    table = pd.DataFrame(
        {
            "group": ["all", "men", "single parents"],
            "parent": [None, "all", "all"],
            "n": [100, 60, 50],
        }
    )
    with pytest.raises(ValueError, match="disjoint"):
        suppress_cells(table, "n", [], RULES, nested=("group", "parent"))


def test_dominated_cells_are_suppressed_with_partner():
    micro = pd.DataFrame(
        {"cell": ["a"] * 12 + ["b"] * 12 + ["c"] * 12, "cost": [1.0] * 11 + [100.0] + [5.0] * 24}
    )
    flags = micro.groupby("cell")["cost"].agg(lambda cost: not check_dominance(cost, RULES))
    assert flags.to_dict() == {"a": True, "b": False, "c": False}
    table = micro.groupby("cell", as_index=False).agg(n=("cost", "size"), total=("cost", "sum"))
    out = suppress_cells(table, "n", ["total"], RULES, dominated=table["cell"].map(flags))
    assert _reasons(out, "cell")["a"] == DOMINANCE
    assert out["suppressed"].sum() == 2


def test_check_dominance():
    assert check_dominance([10, 10, 10, 10], RULES)
    assert not check_dominance([100, 10, 10, 10], RULES)
    assert check_dominance([-60, 50, 50], RULES)  # 60/160
    assert check_dominance([100, 1], DisclosureRules(dominance_share=None))
    assert not check_dominance([40, 30, 30], DisclosureRules(dominance_share=0.35))


def test_model_with_nine_df():
    assert not check_model_df(9, RULES)
    assert check_model_df(10, RULES)
    assert check_model_df(np.array([9, 10, np.nan]), RULES).tolist() == [False, True, False]


def _effects() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "subgroup": ["all", "men", "women", "tiny model"],
            "n_treated": [400, 150, 250, 40],
            "n_control": [900, 400, 500, 30],
            "df_resid": [1290, 540, 740, 9],
            "estimate": [0.03, 0.02, 0.04, 0.10],
            "std_error": [0.01, 0.015, 0.012, 0.2],
            "ci_low": [0.01, -0.01, 0.016, -0.3],
            "ci_high": [0.05, 0.05, 0.064, 0.5],
            "p_value": [0.003, 0.18, 0.001, 0.6],
        }
    )


def test_effect_table_model_df_and_small_arms():
    effects = _effects()
    effects.loc[1, "n_treated"] = 8
    out = suppress_effect_table(effects, RULES)
    assert len(out) == len(effects)
    assert _reasons(out, "subgroup") == {
        "all": None,
        "men": PRIMARY,
        "women": None,
        "tiny model": MODEL_DF,
    }
    blank = out.set_index("subgroup").loc[
        ["men", "tiny model"],
        ["estimate", "std_error", "ci_low", "ci_high", "p_value", "n_treated"],
    ]
    assert blank.isna().all().all()
    assert out.loc[0, "estimate"] == pytest.approx(0.03)


def test_effect_table_complementary_on_arm_counts():
    effects = _effects().iloc[:3].assign(parent=[None, "all", "all"], split=[None, "sex", "sex"])
    effects.loc[1, "n_treated"] = 8
    effects.loc[2, "n_treated"] = 392
    out = suppress_effect_table(effects, RULES, nested=("subgroup", "parent", "split"))
    assert _reasons(out, "subgroup") == {"all": None, "men": PRIMARY, "women": COMPLEMENTARY}


def test_suppress_bins_keeps_positions_and_rows():
    bins = pd.DataFrame(
        {
            "bin": [-3, -2, -1, 0, 1, 2],
            "n": [25, 7, 30, 28, 40, 33],
            "mean_work": np.linspace(0.2, 0.3, 6),
        }
    )
    out = suppress_bins(bins, "n", RULES)
    assert len(out) == len(bins)
    assert out["bin"].tolist() == bins["bin"].tolist()
    assert out["suppressed"].tolist() == [True, True, False, False, False, False]
    assert out["mean_work"].isna().tolist() == [True, True, False, False, False, False]


def test_rules_are_configurable():
    table = pd.DataFrame({"cell": list("abc"), "n": [12, 30, 40], "v": [1.0, 2.0, 3.0]})
    assert suppress_cells(table, "n", ["v"], DisclosureRules(min_units=15))["suppressed"].sum() == 2
    assert suppress_cells(table, "n", ["v"], DisclosureRules(min_units=5))["suppressed"].sum() == 0


def test_a_failed_estimate_publishes_its_reason_without_counts():
    from wi_pipeline.lib.disclosure import not_estimable

    err = ValueError(
        "treatment column 'arm': every arm needs at least 2 rows; too few in 'beschut_werk' (1 row)"
    )
    reason = not_estimable(err)
    assert reason.startswith("not estimable: treatment column 'arm'") and "beschut_werk" in reason
    assert not any(ch.isdigit() for ch in reason)
