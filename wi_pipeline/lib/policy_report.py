"""The report a municipality puts before its council: what works for whom, in plain units, from the
published tables only (so it holds nothing the output rules withhold), as one self-contained HTML page
per municipality and pooled, in Dutch and in English.
"""

from __future__ import annotations

import csv
import math
import re
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from wi_pipeline.lib.disclosure import reason_in_words
from wi_pipeline.lib.effects import (
    CHOICE,
    INTERACTION,
    POOLED,
    is_rd_robustness,
    literature_effect,
    tailoring_tests,
)
from wi_pipeline.lib.layout import spoken_name
from wi_pipeline.lib.pages import render_page

LANGUAGES = ("nl", "en")
INSTRUMENTS = {
    "loonkostensubsidie": ("loonkostensubsidie", "wage-cost subsidy"),
    "scholing": ("scholing", "training"),
    "werkervaringsplaats": ("werkervaringsplaats", "work-experience placement"),
    "jobcoach": ("jobcoaching", "job coaching"),
    "proefplaatsing": ("proefplaatsing", "trial placement"),
    "sociale_activering": ("sociale activering", "social activation"),
    "bemiddeling": ("bemiddeling naar werk", "job mediation"),
    "beschut_werk": ("beschut werk", "sheltered work"),
}
VERDICTS = {
    "better than waiting": ("duidelijk beter dan wachten", "clearly better than waiting"),
    "worse than waiting": ("duidelijk slechter dan wachten", "clearly worse than waiting"),
    "not distinguishable from waiting": (
        "niet te onderscheiden van wachten",
        "not distinguishable from waiting",
    ),
    "": ("", ""),
}
OUTCOMES = {
    "regular_work": (
        "gewoon werk (geen loonkostensubsidie of beschut werk)",
        "in regular work (not a subsidised or sheltered placement)",
    ),
    "employed": ("werk (elke baan)", "in work (any job)"),
    "self_sufficient": ("geen bijstand meer", "no longer on bijstand"),
    "hours": ("gewerkte uren per maand", "hours worked per month"),
    "care_costs_total": ("zorgkosten per jaar", "healthcare costs per year"),
    "care_costs_mental": (
        "kosten geestelijke gezondheidszorg per jaar",
        "mental healthcare costs per year",
    ),
}
COMBINED_WORDS = {
    "mediation vs neither": (
        "bemiddeling zonder schuldhulp, tegenover geen van beide",
        "mediation without debt assistance, against neither",
    ),
    "debt_only vs neither": (
        "schuldhulp zonder bemiddeling, tegenover geen van beide",
        "debt assistance without mediation, against neither",
    ),
    "both vs debt_only": (
        "bemiddeling als schuldhulp al loopt, tegenover alleen schuldhulp",
        "mediation once debt assistance runs, against debt assistance alone",
    ),
    "both vs mediation": (
        "beide, tegenover alleen bemiddeling: wat schuldhulp toevoegt",
        "both, against mediation alone: what debt assistance adds",
    ),
    "both vs neither": ("beide, tegenover geen van beide", "both, against neither"),
    INTERACTION: (
        "samenspel: werkt bemiddeling beter als de schulden worden aangepakt?",
        "interaction: does mediation work better once debts are being dealt with?",
    ),
}

# The exemption's comparisons, by the start of their contrast (Dutch, English).
EXEMPTION_WORDS = {
    "child aged 60+": (
        "ouders net na de 5e verjaardag van hun jongste kind, tegenover net ervoor",
        "parents just after their youngest child's 5th birthday, against just before",
    ),
    "exemption (fuzzy RD": (
        "de ontheffing zelf, voor ouders die door de verjaardag hun ontheffing verliezen",
        "the exemption itself, for parents whom the birthday moves out of it",
    ),
    "staggered": (
        "ouders in de maanden na de 5e verjaardag van hun jongste kind, tegenover ouders van wie het "
        "kind later 5 wordt, in dezelfde maanden",
        "parents in the months after their youngest child's 5th birthday, against parents whose child "
        "turns 5 later, in the same months",
    ),
}
SUBGROUP_NAMES = {
    "sex": "geslacht",
    "number of children": "aantal kinderen",
    "marital status": "burgerlijke staat",
    "health": "gezondheid",
    "age band": "leeftijdsgroep",
    "origin": "herkomst",
}
# The assignment rule's groups are written from its features' names and values: their Dutch words,
# longest first so that a longer phrase is replaced before a word inside it.
RULE_WORDS_NL = {
    "months worked in the last year": "maanden gewerkt in het afgelopen jaar",
    "time on bijstand": "tijd in de bijstand",
    "problematic debt": "problematische schulden",
    "marital status": "burgerlijke staat",
    "never married": "nooit gehuwd",
    "age band": "leeftijd",
    "children": "kinderen",
    "health": "gezondheid",
    "origin": "herkomst",
    "married": "gehuwd",
    "divorced": "gescheiden",
    "widowed": "verweduwd",
    "woman": "vrouw",
    "sex": "geslacht",
    "months": "maanden",
    "none": "geen",
    "poor": "slecht",
    "good": "goed",
    "is not": "is niet",
    "and": "en",
    "or": "of",
    "to": "tot",
    "yes": "ja",
    "no": "nee",
    "or more": "of meer",
    "years": "jaar",
}


def rule_in_dutch(text: str) -> str:
    """A rule group's description in Dutch, word for word from the rule's own vocabulary."""
    for en in sorted(RULE_WORDS_NL, key=len, reverse=True):
        text = re.sub(rf"(?<![\w-]){re.escape(en)}(?![\w-])", RULE_WORDS_NL[en], text)
    return text


# Dutch for the English phrases the published tables carry (reasons withheld, literature ranges):
# a phrase list a translator can read and extend, in the package's reference data.
PHRASES_NL_FILE = Path(__file__).resolve().parents[1] / "reference" / "published_phrases_nl.csv"


def _read_phrases(path: Path) -> dict[str, str]:
    with path.open(encoding="utf-8", newline="") as f:
        return {row["ENGLISH"]: row["DUTCH"] for row in csv.DictReader(f, delimiter=";")}


DUTCH = _read_phrases(PHRASES_NL_FILE)


def _words(text: str, lang: str) -> str:
    """A phrase from the published tables in the report's language (after "withheld:" in the report)."""
    return DUTCH.get(text, text) if lang == "nl" else text.removeprefix("withheld ")


# (Dutch, English) of every sentence the report writes itself.
T = {
    "title": (
        "Wat werkt voor wie: hulp naar werk in {city}",
        "What works for whom: help towards work in {city}",
    ),
    "as_of": (
        "Stand van {date}. Gemaakt uit de gepubliceerde tabellen van de verwerking.",
        "As of {date}. Made from the processing's published tables.",
    ),
    "intro": (
        "Dit rapport vergelijkt de hulp die de gemeente geeft aan mensen in de bijstand. Alle "
        "cijfers gaan over "
        "groepen van minstens {n} personen; kleinere groepen zijn weggelaten. Een effect staat in "
        "procentpunten: +3 procentpunt betekent dat 3 op de 100 mensen méér werk hebben dan zonder de hulp. "
        "Het interval eromheen (95%) laat zien hoe zeker dat is: als het interval de nul bevat, kunnen de "
        "gegevens het effect niet van nul onderscheiden.",
        "This report compares the help the municipality gives to people on social assistance "
        "(bijstand). Every "
        "figure is about groups of at least {n} people; smaller groups are left out. An effect is given in "
        "percentage points: +3 percentage points means 3 in 100 people more in work than without the help. "
        "The 95% interval around it shows how certain that is: if the interval contains zero, "
        "the data cannot "
        "tell the effect from zero.",
    ),
    "h_works": ("Welke hulp naar werk werkt?", "Which help towards work works?"),
    "works_who": (
        "Vergeleken op één groep mensen: iedereen in de bijstand die nog geen hulp naar werk "
        "had. In een maand "
        "begint iemand een vorm van hulp, of nog niets (wachten). Uitkomst: gewoon werk een jaar later.",
        "Compared on one group of people: everyone on bijstand who has not had help towards work yet. In a "
        "month someone starts one kind of help, or nothing yet (waiting). Outcome: regular work "
        "a year later.",
    ),
    "col_instrument": ("Hulp", "Help"),
    "col_effect": (
        "Effect (procentpunt, 95%-interval)",
        "Effect (percentage points, 95% interval)",
    ),
    "col_levels": (
        "Gewoon werk na een jaar: met deze hulp / wachten",
        "Regular work after a year: with this help / waiting",
    ),
    "col_rank": ("Plaats (95%-bereik)", "Rank (95% range)"),
    "col_best": ("Kan de beste zijn", "Can be the best"),
    "col_verdict": ("Oordeel", "Verdict"),
    "col_persons": ("Personen (begonnen)", "Persons (started)"),
    "yes": ("ja", "yes"),
    "no": ("nee", "no"),
    "best_set": (
        "De beste hulp zit, met 95% zekerheid, bij: {names}.",
        "With 95% confidence the best help is among: {names}.",
    ),
    "withheld_row": ("weggelaten: {why}", "withheld: {why}"),
    "tailor_none": (
        "Voor geen enkele hulp verschilt het effect duidelijk tussen groepen ({k} toetsen): de gegevens "
        "geven geen reden om de hulp per groep anders te kiezen.",
        "No help's effect differs clearly between groups ({k} tests): the data give no reason to choose "
        "differently per group.",
    ),
    "tailor_some": (
        "Het effect verschilt duidelijk tussen groepen voor: {items} ({k} toetsen, gecorrigeerd voor het "
        "aantal toetsen).",
        "The effect differs clearly between groups for: {items} ({k} tests, corrected "
        "for their number).",
    ),
    "h_rule": ("Wie welke hulp? De toewijzingsregel", "Who gets which help? The assignment rule"),
    "rule_intro": (
        "Een regel met twee vragen over wat een klantmanager weet, die per groep de hulp kiest waarmee een "
        "jaar later de meeste mensen gewoon werk hebben.",
        "A rule with two questions about what a caseworker knows, choosing per group the help with which "
        "most people are in regular work a year later.",
    ),
    "rule_gain": (
        "Volgens de regel toewijzen levert {est} procentpunt meer gewoon werk op dan de huidige werkwijze "
        "(95%-interval {lo} tot {hi}).",
        "Assigning by the rule gives {est} percentage points more "
        "regular work than today's practice (95% interval {lo} to {hi}).",
    ),
    "rule_none": (
        "Voor deze gemeente is geen regel gepubliceerd.",
        "No rule is published for this municipality.",
    ),
    "works_none": (
        "Voor deze gemeente is geen vergelijking van de hulp gepubliceerd.",
        "No comparison of the kinds of help is published for this municipality.",
    ),
    "col_group": ("Groep", "Group"),
    "col_share": ("Deel van de mensen", "Share of people"),
    "col_gets": ("Krijgt", "Gets"),
    "h_exemption": (
        "Ontheffing van de sollicitatieplicht voor alleenstaande ouders",
        "Exemption from the duty to seek work for single parents",
    ),
    "exemption_intro": (
        "Alleenstaande ouders met een kind onder de 5 kunnen ontheffing krijgen (art. 9a). Vergeleken: "
        "ouders net voor en net na de 5e verjaardag van hun jongste kind.",
        "Single parents with a child under 5 can be exempted (art. 9a). Compared: parents just "
        "before and just after their youngest child's 5th birthday.",
    ),
    "h_combined": (
        "Schuldhulp en bemiddeling naar werk samen",
        "Debt assistance and job mediation together",
    ),
    "combined_intro": (
        "Mensen in de bijstand met problematische schulden. Vier groepen: beide, alleen bemiddeling, "
        "alleen schuldhulp, geen van beide; alle vier op dezelfde groep mensen vergeleken.",
        "People on bijstand with problematic debt. Four groups: both, mediation alone, debt assistance "
        "alone, neither; all four compared on the same people.",
    ),
    "col_comparison": ("Vergelijking", "Comparison"),
    "col_outcome": ("Uitkomst", "Outcome"),
    "col_estimate": ("Effect (95%-interval)", "Effect (95% interval)"),
    "col_power": ("Kleinste effect dat de gegevens zien", "Smallest effect the data can see"),
    "h_power": ("Wat de gegevens niet kunnen zeggen", "What the data cannot tell"),
    "power_intro": (
        "Het kleinste effect dat een schatting met 80% kans opmerkt, naast wat eerder onderzoek vond:",
        "The smallest effect an estimate detects with 80% probability, next to what earlier research "
        "found:",
    ),
    "power_cannot": (
        "te klein om effecten te zien zoals eerder onderzoek vond ({lit}); 'geen effect' betekent hier "
        "weinig",
        "too small to see effects the size earlier research found ({lit}); 'no effect' "
        "means little here",
    ),
    "power_partly": (
        "ziet alleen de grotere effecten die eerder onderzoek vond ({lit})",
        "sees only the larger effects earlier research found ({lit})",
    ),
    "power_can": (
        "kan effecten zien zoals eerder onderzoek vond ({lit})",
        "can see effects the size earlier research found ({lit})",
    ),
    "h_withheld": ("Wat is weggelaten en waarom", "What was withheld and why"),
    "withheld_count": (
        "{n} van de {total} cijfers zijn weggelaten:",
        "{n} of {total} figures are withheld:",
    ),
    "pp": ("procentpunt", "percentage points"),
    "eur": ("euro", "euros"),
    "hours": ("uur", "hours"),
    "months": ("maanden", "months"),
    "after": ("{h} maanden later", "{h} months later"),
    "at_birthday": ("rond de 5e verjaardag", "around the 5th birthday"),
    "event_caption": (
        "Effect op werk per maand sinds de 5e verjaardag (procentpunt, 95%-interval), tegenover de "
        "maand ervoor; de maanden vóór de verjaardag horen rond nul te liggen.",
        "Effect on work by month since the 5th birthday (percentage points, 95% interval), against "
        "the month before; the months before the birthday should lie around zero.",
    ),
    "rd_caption": (
        "Aandeel met werk per leeftijd van het jongste kind in maanden; links van de streep nog "
        "ontheffing mogelijk, rechts niet meer.",
        "Share in work by the youngest child's age in months; "
        "left of the line the exemption can still apply, right of it no longer.",
    ),
    "rd_axis": ("leeftijd jongste kind (maanden)", "youngest child's age (months)"),
    "month": ("maand", "month"),
    "to": ("tot", "to"),
    "waiting": ("wachten", "waiting"),
}


def _t(key: str, lang: str, **kw) -> str:
    return T[key][LANGUAGES.index(lang)].format(**kw)


def _pick(words: dict, key: str, lang: str) -> str:
    """The word for ``key`` in ``lang``; our own code name when the vocabulary does not know it."""
    return words[key][LANGUAGES.index(lang)] if key in words else key


def city_name(gemeente: str, lang: str) -> str:
    if gemeente == POOLED:
        return ("de vier grote steden (G4)", "the four largest cities (G4)")[LANGUAGES.index(lang)]
    return spoken_name(gemeente, LANGUAGES.index(lang))


def _number(x: float, digits: int = 1) -> str:
    return "" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:+.{digits}f}"


def _in_units(row: pd.Series, value: float, lang: str) -> str:
    """A value of the row's outcome in its unit: shares in percentage points, euros, hours."""
    unit = str(row.get("unit", ""))
    if unit.startswith("share"):
        return f"{value * 100:+.1f} {_t('pp', lang)}"
    if "euro" in unit:
        return f"{value:+,.0f} {_t('eur', lang)}"
    if "hour" in unit:
        return f"{value:+.1f} {_t('hours', lang)}"
    if "month" in unit:
        return f"{value:+.2f} {_t('months', lang)}"
    return f"{value:+.3f}"


# The page's parts, as the templates take them: a table is {"head": [...], "rows": [[cell, ...]]};
# a cell is text, an estimate {"estimate", "low", "to", "high"} or a withheld note {"withheld"}.


def _table(head_keys: tuple[str, ...], rows: list[list], lang: str) -> dict:
    return {"head": [_t(k, lang) for k in head_keys], "rows": rows}


def _estimate(estimate: str, low: str, high: str, lang: str) -> dict:
    return {"estimate": estimate, "low": low, "to": _t("to", lang), "high": high}


def _withheld_note(why: str, lang: str) -> dict:
    return {"withheld": _t("withheld_row", lang, why=why)}


def _estimate_cell(row: pd.Series, lang: str) -> dict:
    if bool(row["suppressed"]):
        return _withheld_note(_words(reason_in_words(row["suppression_reason"]), lang), lang)
    return _estimate(
        *(_in_units(row, row[c], lang) for c in ("estimate", "ci_low", "ci_high")), lang
    )


def _interval_chart(items: list[tuple[str, float, float, float]], unit: str) -> dict | None:
    """Estimates with their 95% intervals, placed for the inline SVG (withheld items are not drawn)."""
    shown = [i for i in items if not any(math.isnan(v) for v in i[1:])]
    if not shown:
        return None
    lo = min(0.0, *(i[2] for i in shown))
    hi = max(0.0, *(i[3] for i in shown))
    pad = (hi - lo) * 0.08 or 1.0
    lo, hi = lo - pad, hi + pad
    width, left, row_h = 640, 210, 26
    height = row_h * len(shown) + 40

    def x(v):
        return f"{left + (v - lo) / (hi - lo) * (width - left - 20):.1f}"

    return {
        "kind": "intervals",
        "width": width,
        "height": height,
        "zero": x(0),
        "zero_bottom": height - 30,
        "label_x": left - 8,
        "rows": [
            {
                "label": label,
                "y": 18 + k * row_h,
                "label_y": 22 + k * row_h,
                "low": x(low),
                "high": x(high),
                "estimate": x(est),
            }
            for k, (label, est, low, high) in enumerate(shown)
        ],
        "x_ticks": [{"x": x(v), "label": f"{v:+.1f}"} for v in np.linspace(lo, hi, 5)],
        "tick_y": height - 12,
        "unit": {"x": f"{(left + width) / 2:.0f}", "y": height, "text": unit},
    }


def _scatter_chart(points: list[dict], cutoff: float, unit: str) -> dict | None:
    """Binned means as dots, a line at the cutoff, placed for the inline SVG (withheld bins are not
    drawn)."""
    shown = [p for p in points if p.get("mean") is not None]
    if not shown:
        return None
    xs, ys = [p["age_months"] for p in shown], [p["mean"] * 100 for p in shown]
    x0, x1, y0, y1 = min(xs) - 1, max(xs) + 1, min(ys), max(ys)
    pad = (y1 - y0) * 0.1 or 1.0
    y0, y1 = y0 - pad, y1 + pad
    width, height, left, bottom = 640, 260, 50, 30

    def x(v):
        return f"{left + (v - x0) / (x1 - x0) * (width - left - 10):.1f}"

    def y(v):
        return 10 + (y1 - v) / (y1 - y0) * (height - bottom - 10)

    return {
        "kind": "scatter",
        "width": width,
        "height": height,
        "cutoff": x(cutoff - 0.5),
        "cutoff_bottom": height - bottom,
        "points": [
            {"x": x(a), "y": f"{y(b):.1f}", "past_cutoff": a >= cutoff} for a, b in zip(xs, ys)
        ],
        "y_ticks": [{"y": f"{y(v) + 4:.1f}", "label": f"{v:.0f}"} for v in np.linspace(y0, y1, 4)],
        "y_tick_x": left - 6,
        "x_ticks": [
            {"x": x(v), "label": str(v)} for v in range(int(np.ceil(x0 / 6) * 6), int(x1) + 1, 6)
        ],
        "tick_y": height - 12,
        "unit": {"x": f"{(left + width) / 2:.0f}", "y": height, "text": unit},
    }


def _what_works(ww: pd.DataFrame, lang: str) -> dict:
    overall = ww[ww["subgroup"] == "all"]
    if overall.empty:
        return {"none": _t("works_none", lang)}
    rows, items = [], []
    for _, r in overall.iterrows():
        name = _pick(INSTRUMENTS, r["instrument"], lang)
        if r["withheld"]:
            effect = _withheld_note(_words(r["withheld_because"], lang), lang)
            levels = rank = best = verdict = persons = ""
        else:
            effect = _estimate(
                *(f"{r[c]:+.1f}" for c in ("effect_pp", "ci_low_pp", "ci_high_pp")), lang
            )
            levels = (
                f"{r['regular_work_pct_if_started']:.1f}% / {r['regular_work_pct_if_waiting']:.1f}%"
            )
            rank, verdict = r["rank_set"], _pick(VERDICTS, r["clearly"], lang)
            best = _t("yes" if r["in_best_set"] == "yes" else "no", lang)
            persons = f"{int(r['persons_started']):,}"
            items.append((name, r["effect_pp"], r["ci_low_pp"], r["ci_high_pp"]))
        rows.append([name, effect, levels, rank, best, verdict, persons])
    head = (
        "col_instrument",
        "col_effect",
        "col_levels",
        "col_rank",
        "col_best",
        "col_verdict",
        "col_persons",
    )
    best = [
        _pick(INSTRUMENTS, i, lang)
        for i in overall.loc[overall["in_best_set"] == "yes", "instrument"]
    ]
    return {
        "who": _t("works_who", lang),
        "chart": _interval_chart(items, _t("pp", lang)),
        "table": _table(head, rows, lang),
        "best": _t("best_set", lang, names=", ".join(best)) if best else None,
        "tailoring": _tailoring(ww, lang),
    }


def _tailoring(ww: pd.DataFrame, lang: str) -> str:
    tests = tailoring_tests(ww)
    supported = tests[tests["p_holm"] < 0.05]
    if supported.empty:
        return _t("tailor_none", lang, k=len(tests))
    dim = (lambda d: SUBGROUP_NAMES.get(d, d)) if lang == "nl" else (lambda d: d)
    items = "; ".join(
        f"{_pick(INSTRUMENTS, r['instrument'], lang)} ({dim(r['subgroup'])})"
        for _, r in supported.iterrows()
    )
    return _t("tailor_some", lang, items=items, k=len(tests))


def _assignment(rule: pd.DataFrame | None, lang: str) -> dict:
    if rule is None or rule.empty:
        return {"none": _t("rule_none", lang)}
    leaves = rule[(rule["section"] == "leaf") & (rule["share_given"] > 0)]
    rows = []
    for _, r in leaves.iterrows():
        gets = _t("waiting", lang) if r["arm"] == "wait" else _pick(INSTRUMENTS, r["arm"], lang)
        if r["share_given"] < 1:  # a leaf split between arms by a capacity
            gets += f" ({r['share_given'] * 100:.0f}%)"
        group = rule_in_dutch(r["item"]) if lang == "nl" else r["item"]
        rows.append([group, f"{r['population_share'] * 100:.0f}%", gets])
    gain = rule[(rule["section"] == "gain") & rule["item"].astype(str).str.contains("observed")]
    words = None
    if len(gain) and not bool(gain.iloc[0]["suppressed"]):
        g = gain.iloc[0]
        words = _t(
            "rule_gain",
            lang,
            est=_number(g["estimate"] * 100),
            lo=_number(g["ci_low"] * 100),
            hi=_number(g["ci_high"] * 100),
        )
    return {
        "intro": _t("rule_intro", lang),
        "table": _table(("col_group", "col_share", "col_gets"), rows, lang) if rows else None,
        "gain": words,
    }


def _comparison(r: pd.Series, lang: str, words: dict | None = None) -> str:
    """Who is compared with whom: our own words where the report knows the contrast, else the
    table's."""
    if words and r["contrast"] in words:
        return _pick(words, r["contrast"], lang)
    prefix = next((k for k in EXEMPTION_WORDS if str(r["contrast"]).startswith(k)), None)
    if r["measure"] == "exemption_9a" and prefix:
        return _pick(EXEMPTION_WORDS, prefix, lang)
    return r["comparison"]


def _exemption_figures(figures: dict | None, lang: str) -> list[dict]:
    """The event study's months and the binned means around the birthday, each with its caption."""
    if not figures:
        return []
    out = []
    months = [
        (
            f"{_t('month', lang)} {int(p['event_time']):+d}",
            p["estimate"] * 100,
            p["ci_low"] * 100,
            p["ci_high"] * 100,
        )
        for p in figures.get("event_study", [])
        if all(p.get(k) is not None for k in ("estimate", "ci_low", "ci_high"))
    ]  # withheld or the reference
    if months:
        chart = _interval_chart(months, _t("pp", lang))
        out.append({"caption": _t("event_caption", lang), "chart": chart})
    rd = _scatter_chart(figures.get("rd_bins", []), 60, _t("rd_axis", lang))
    if rd:
        out.append({"caption": _t("rd_caption", lang), "chart": rd})
    return out


def _effect_table(rows: pd.DataFrame, lang: str, words: dict | None = None) -> dict:
    body = []
    for _, r in rows.iterrows():
        when = (
            _t("at_birthday", lang)
            if r["measure"] == "exemption_9a"
            else _t("after", lang, h=int(r["horizon"]))
        )
        mde = (
            ""
            if bool(r["suppressed"]) or pd.isna(r["mde_80"])
            else _in_units(r, r["mde_80"], lang).lstrip("+")
        )
        body.append(
            [
                _comparison(r, lang, words),
                f"{_pick(OUTCOMES, r['outcome'], lang)}, {when}",
                _estimate_cell(r, lang),
                mde,
            ]
        )
    return _table(("col_comparison", "col_outcome", "col_estimate", "col_power"), body, lang)


def _power(overall: pd.DataFrame, lang: str) -> dict | None:
    """The headline estimates on work (instruments at a year, the exemption, the combined
    approach)."""
    work = overall[
        overall["outcome"].isin(["employed", "regular_work"])
        & ~overall["suppressed"].astype(bool)
        & overall["mde_80"].notna()
    ]
    work = work[
        (work["measure"] != CHOICE)
        | ((work["outcome"] == "regular_work") & (work["horizon"] == 12))
    ]
    items = []
    for _, r in work.iterrows():
        low, high, lit = literature_effect(r["measure"], r["contrast"])
        mde = float(r["mde_80"])
        key = "power_cannot" if mde > high else "power_partly" if mde > low else "power_can"
        if r["measure"] == CHOICE:
            instrument = _pick(INSTRUMENTS, r["contrast"].split(" vs ")[0], lang)
            name = f"{instrument} ({_t('after', lang, h=12)})"
        elif r["measure"] == "combined":
            name = (
                f"{_comparison(r, lang, COMBINED_WORDS)} ({_t('after', lang, h=int(r['horizon']))})"
            )
        else:
            name = _comparison(r, lang)
        verdict = _t(key, lang, lit=_words(lit, lang))
        items.append(f"{name}: {mde * 100:.1f} {_t('pp', lang)}, {verdict}")
    return {"intro": _t("power_intro", lang), "estimates": items} if items else None


def _withheld(effects: pd.DataFrame, lang: str) -> dict:
    w = effects[effects["suppressed"].astype(bool)]
    counts = w["suppression_reason"].map(lambda r: _words(reason_in_words(r), lang)).value_counts()
    return {
        "count": _t("withheld_count", lang, n=len(w), total=len(effects)),
        "reasons": [f"{n}: {why}" for why, n in counts.items()],
    }


def _section(
    gemeente: str,
    effects: pd.DataFrame,
    ww: pd.DataFrame,
    assignment: pd.DataFrame | None,
    lang: str,
    as_of: date,
    min_units: int,
) -> dict:
    """One language's half of the page, as plain values for the template."""
    overall = effects[
        (effects["subgroup"] == "all") & ~is_rd_robustness(effects)
    ]  # robustness: in the tables
    return {
        "lang": lang,
        "title": _t("title", lang, city=city_name(gemeente, lang)),
        "as_of": _t("as_of", lang, date=as_of.isoformat()),
        "intro": _t("intro", lang, n=min_units),
        "h_works": _t("h_works", lang),
        "works": _what_works(ww, lang),
        "h_rule": _t("h_rule", lang),
        "rule": _assignment(assignment, lang),
        "h_exemption": _t("h_exemption", lang),
        "exemption_intro": _t("exemption_intro", lang),
        "exemption": _effect_table(overall[overall["measure"] == "exemption_9a"], lang),
        "exemption_figures": _exemption_figures(effects.attrs.get("figures"), lang),
        "h_combined": _t("h_combined", lang),
        "combined_intro": _t("combined_intro", lang),
        "combined": _effect_table(overall[overall["measure"] == "combined"], lang, COMBINED_WORDS),
        "h_power": _t("h_power", lang),
        "power": _power(overall, lang),
        "h_withheld": _t("h_withheld", lang),
        "withheld": _withheld(effects, lang),
    }


def policy_report_html(
    gemeente: str,
    effects: pd.DataFrame,
    what_works: pd.DataFrame,
    assignment: pd.DataFrame | None,
    as_of: date | None = None,
    min_units: int = 10,
) -> str:
    """One municipality's (or the pooled G4's) report from its published effect table, what-works
    table and assignment-rule table: one self-contained page, in Dutch and then in English."""
    as_of = as_of or date.today()
    effects = effects[effects["gemeente"] == gemeente]
    ww = what_works[what_works["gemeente"] == gemeente]
    sections = [
        _section(gemeente, effects, ww, assignment, lang, as_of, min_units) for lang in LANGUAGES
    ]
    return render_page(
        "policy_report.html",
        title=" / ".join(section["title"] for section in sections),
        sections=sections,
    )
