"""The policy report as its readers meet it: units, who is compared with whom, what was withheld and
why, in Dutch and in English; rendered in headless Chromium, with a screenshot in test-artifacts/."""

import re
from datetime import date

import numpy as np
import pandas as pd
import pytest

from wi_pipeline.lib.effects import (
    CHOICE,
    EFFECT_COLUMNS,
    INTERACTION,
    MDE_FACTOR,
    STAGGERED_CONTRAST,
    what_works_for_whom,
)
from wi_pipeline.lib.policy_report import policy_report_html, rule_in_dutch
from wi_pipeline_tests.helpers import render_in_chromium

SHARE = "share of persons (0.01 = 1 percentage point)"


def _row(measure, contrast, outcome, horizon, estimate, se, n=(500, 2000), suppressed="", **extra):
    row = dict.fromkeys(EFFECT_COLUMNS, np.nan)
    row.update(
        measure=measure,
        gemeente="GM0599",
        subgroup="all",
        subgroup_value="all",
        outcome=outcome,
        outcome_label=outcome,
        unit=SHARE if outcome != "care_costs_total" else "euros per person per year",
        horizon=horizon,
        contrast=contrast,
        comparison=f"{measure}: {contrast}",
        estimate=estimate,
        std_error=se,
        ci_low=estimate - 1.96 * se,
        ci_high=estimate + 1.96 * se,
        p_value=0.01,
        p_adjusted=0.02,
        mde_80=MDE_FACTOR * se,
        n_treated=n[0],
        n_control=n[1],
        method="AIPW",
        diagnostics="{}",
        suppressed=bool(suppressed),
        suppression_reason=suppressed,
        heterogeneity_test="",
    )
    if suppressed:
        row.update(
            estimate=np.nan,
            std_error=np.nan,
            ci_low=np.nan,
            ci_high=np.nan,
            p_value=np.nan,
            p_adjusted=np.nan,
            mde_80=np.nan,
        )
    row.update(extra)
    return row


@pytest.fixture(scope="module")
def effects():
    return pd.DataFrame(
        [
            _row(
                "instrument_choice",
                "scholing vs wait",
                "regular_work",
                12,
                0.033,
                0.015,
                level_treated=0.193,
                level_control=0.16,
                rank=1,
                rank_low=1,
                rank_high=2,
                in_best_set=1.0,
            ),
            _row(
                "instrument_choice",
                "beschut_werk vs wait",
                "regular_work",
                12,
                -0.16,
                0.003,
                level_treated=0.0,
                level_control=0.16,
                rank=2,
                rank_low=2,
                rank_high=2,
                in_best_set=0.0,
            ),
            _row(
                "instrument_choice",
                "jobcoach vs wait",
                "regular_work",
                12,
                np.nan,
                np.nan,
                n=(7, 2000),
                suppressed="fewer than 10 persons in an arm",
            ),
            _row(
                "exemption_9a",
                "child aged 60+ months vs under 60 (reduced form)",
                "employed",
                0,
                -0.001,
                0.035,
            ),
            _row("exemption_9a", STAGGERED_CONTRAST, "employed", 0, 0.024, 0.0075),
            _row("combined", "mediation vs neither", "regular_work", 12, 0.069, 0.047),
            _row("combined", "debt_only vs neither", "care_costs_total", 12, -504.0, 137.0),
            _row(
                "combined",
                INTERACTION,
                "regular_work",
                12,
                np.nan,
                np.nan,
                suppressed="complementary",
            ),
        ]
    )


@pytest.fixture(scope="module")
def page(effects):
    rule = pd.DataFrame(
        [
            dict(
                gemeente="GM0599",
                section="leaf",
                item="age band is 55+ and sex is woman",
                arm="scholing",
                share_given=1.0,
                population_share=0.13,
                estimate=0.2,
                suppressed=False,
            ),
            dict(
                gemeente="GM0599",
                section="gain",
                item="gain over the observed assignment",
                arm="",
                share_given=np.nan,
                population_share=np.nan,
                estimate=0.063,
                ci_low=0.053,
                ci_high=0.074,
                suppressed=False,
            ),
        ]
    )
    return policy_report_html(
        "GM0599", effects, what_works_for_whom(effects), rule, as_of=date(2026, 12, 1)
    )


def _text(html: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


def test_both_languages_say_who_is_compared_in_plain_units(page):
    nl, en = (_text(part) for part in page.split('<section lang="en"'))
    assert "Wat werkt voor wie: hulp naar werk in Rotterdam" in nl and "Stand van 2026-12-01" in nl
    assert "What works for whom: help towards work in Rotterdam" in en
    # the instrument comparison: one population, the outcome, percentage points with the interval
    assert "iedereen in de bijstand die nog geen hulp naar werk had" in nl
    assert "+3.3 (+0.4 tot +6.2)" in nl and "19.3% / 16.0%" in nl and "+3.3 (+0.4 to +6.2)" in en
    assert "duidelijk slechter dan wachten" in nl and "clearly worse than waiting" in en
    # the exemption and the 2x2 in their own units and words
    assert "ouders net na de 5e verjaardag van hun jongste kind, tegenover net ervoor" in nl
    assert "tegenover ouders van wie het kind later 5 wordt, in dezelfde maanden" in nl
    assert "against parents whose child turns 5 later, in the same months" in en
    assert "-0.1 procentpunt" in nl and "-504 euro" in nl and "-504 euros" in en
    assert "schuldhulp zonder bemiddeling, tegenover geen van beide" in nl
    assert "debt assistance without mediation, against neither" in en
    # the assignment rule in Dutch words and its gain
    assert (
        "leeftijd is 55+ en geslacht is vrouw" in nl and "+6.3 procentpunt meer gewoon werk" in nl
    )


def test_withheld_figures_are_named_with_the_reason_in_words_and_no_small_count_shows(page):
    nl, en = (_text(part) for part in page.split('<section lang="en"'))
    assert "weggelaten: te weinig personen" in nl and "withheld: too few persons" in en
    assert "2 van de 8 cijfers zijn weggelaten" in nl and "2 of 8 figures are withheld" in en
    assert "om te voorkomen dat een kleinere weggelaten groep wordt uitgerekend" in nl
    assert "withheld: so that a smaller withheld group" in en
    assert not re.search(
        r"\b7 (personen|persons)\b", nl + en
    )  # the withheld arm's count is not shown
    jobcoach = en.split("job coaching")[1][:120]
    assert "withheld" in jobcoach and " 7 " not in jobcoach


def test_power_is_said_against_what_earlier_research_found(page):
    nl, en = (_text(part) for part in page.split('<section lang="en"'))
    # scholing: MDE 4.2 pp against 3-8 pp; the exemption: 9.8 pp against 1-5 pp
    assert "scholing (12 maanden later): 4.2 procentpunt, ziet alleen de grotere effecten" in nl
    assert (
        "te klein om effecten te zien zoals eerder onderzoek vond (de sprong bij de 5e verjaardag"
        in nl
    )
    assert "too small to see effects the size earlier research found" in en


def test_rd_robustness_rows_stay_in_the_tables_not_in_the_report(effects):
    check = _row(
        "exemption_9a",
        "RD robustness: placebo cutoff at 48 months (ages under 60 only; h = 3.3 months)",
        "employed",
        0,
        0.013,
        0.013,
    )
    with_check = pd.concat([effects, pd.DataFrame([check])], ignore_index=True)
    html = policy_report_html(
        "GM0599", with_check, what_works_for_whom(with_check), None, as_of=date(2026, 12, 1)
    )
    assert "placebo" not in html and "RD robustness" not in html
    assert (
        "ouders net na de 5e verjaardag van hun jongste kind" in html
    )  # the headline row still is


def test_rule_groups_are_translated_word_by_word():
    assert (
        rule_in_dutch("months worked in the last year is none or 1-3 months and sex is man")
        == "maanden gewerkt in het afgelopen jaar is geen of 1-3 maanden en geslacht is man"
    )
    assert (
        rule_in_dutch("marital status is not never married")
        == "burgerlijke staat is niet nooit gehuwd"
    )


def test_the_page_renders_in_a_browser(page, tmp_path):
    dom = render_in_chromium(page, "policy_report_GM0599", tmp_path)
    assert (
        "Wat werkt voor wie" in dom and "What works for whom" in dom and "<svg" in dom
    )  # intervals inline


def test_the_exemption_s_pictures_come_with_the_table_withheld_points_left_out(effects):
    figures = {
        "event_study": [
            {"event_time": e, "estimate": 0.01 * (e >= 0), "ci_low": -0.01, "ci_high": 0.03}
            for e in (-3, -2, 0, 1, 2)
        ]
        + [
            {"event_time": 3, "estimate": None, "ci_low": None, "ci_high": None},
            {"event_time": -1, "estimate": 0.0, "ci_low": None, "ci_high": None},
        ],  # the reference month
        "rd_bins": [{"age_months": a, "mean": 0.3 + 0.01 * (a >= 60)} for a in range(54, 66)]
        + [{"age_months": 66, "mean": None}],
    }
    table = effects.copy()
    table.attrs["figures"] = figures
    page = policy_report_html(
        "GM0599", table, what_works_for_whom(table), None, as_of=date(2026, 12, 1)
    )
    nl = page.split('<section lang="en"')[0]
    assert (
        "maand -3" in nl and "maand +2" in nl and "maand +3" not in nl
    )  # the withheld month is not drawn
    assert "maand -1" not in nl  # the reference month has no interval
    assert "de maanden vóór de verjaardag horen rond nul te liggen" in nl
    assert nl.count('r="4"') == 12  # twelve binned means, the withheld one left out
    plain = policy_report_html(
        "GM0599", effects, what_works_for_whom(effects), None, as_of=date(2026, 12, 1)
    )
    assert "maand -3" not in plain  # no figures stored with the table: none drawn


def test_text_from_the_tables_is_shown_as_text_never_as_markup(effects):
    """A municipality's own instrument code (drawn in the inline SVG too), a comparison the report
    has no words for and a withheld reason come from the tables: their markup characters are
    escaped, so the page shows them and runs nothing."""
    table = effects.copy()
    instrument = table["contrast"] == "scholing vs wait"
    table.loc[instrument, "contrast"] = "<script>alert(1)</script> & co vs wait"
    combined = table["measure"] == "combined"
    table.loc[combined, "contrast"] = "own & <b>contrast</b>"
    table.loc[combined, "comparison"] = "A & B <i>vs</i> C"
    table.loc[table["contrast"] == "jobcoach vs wait", "suppression_reason"] = "<img src=x> & more"
    page = policy_report_html(
        "GM0599", table, what_works_for_whom(table), None, as_of=date(2026, 12, 1)
    )
    for markup in ("<script>", "<b>", "<i>", "<img"):
        assert markup not in page
    svg = page.split("<svg")[1].split("</svg>")[0]
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; co" in svg  # the chart's row label
    cell = "<td>&lt;script&gt;alert(1)&lt;/script&gt; &amp; co</td>"  # and the table's
    assert cell in page
    assert "<td>A &amp; B &lt;i&gt;vs&lt;/i&gt; C</td>" in page
    assert "weggelaten: &lt;img src=x&gt; &amp; more" in page
    assert "(Card, Kluve &amp; Weber 2018)" in page  # a phrase of the tables' own, too


def test_no_published_comparison_is_said_as_such_not_as_a_missing_rule(effects):
    """Without instrument rows the comparison's section says that no comparison is published; the
    assignment rule's own section says there is no rule."""
    no_instruments = effects[effects["measure"] != CHOICE]
    page = policy_report_html(
        "GM0599", no_instruments, what_works_for_whom(no_instruments), None, as_of=date(2026, 12, 1)
    )
    text = _text(page)
    assert "No comparison of the kinds of help is published for this municipality." in text
    assert "Voor deze gemeente is geen vergelijking van de hulp gepubliceerd." in text
    assert text.count("No rule is published for this municipality.") == 1


def test_every_phrase_the_published_tables_can_carry_has_its_dutch():
    """The Dutch half never falls back to English: each reason withheld and each literature range has
    a line in reference/published_phrases_nl.csv."""
    from wi_pipeline.lib.disclosure import (
        COMPLEMENTARY,
        DOMINANCE,
        MODEL_DF,
        NOT_ESTIMABLE,
        PRIMARY,
        reason_in_words,
    )
    from wi_pipeline.lib.effects import GENERIC_LITERATURE, LITERATURE_EFFECTS
    from wi_pipeline.lib.policy_report import DUTCH

    reasons = [PRIMARY, COMPLEMENTARY, MODEL_DF, DOMINANCE, f"{NOT_ESTIMABLE}: too few"]
    phrases = {reason_in_words(r) for r in reasons}
    phrases |= {words for _, _, words in [*LITERATURE_EFFECTS.values(), GENERIC_LITERATURE]}
    assert phrases - set(DUTCH) == set()
