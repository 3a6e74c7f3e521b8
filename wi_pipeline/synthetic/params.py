"""Every planted number of the synthetic world in one place, so the simulation and the truth file
cannot disagree. Effects are on the monthly employment probability (fractions: 0.03 = 3 pp)."""

from __future__ import annotations

from dataclasses import dataclass

PROB_CLIP = (0.01, 0.95)

# Index of the monthly employment probability: p = clip(index, *PROB_CLIP).
EMPLOYMENT_INDEX = {
    "intercept": 0.22,
    "man": 0.02,
    "age_18_22": 0.02,
    "per_year_over_35": -0.0015,
    "poor_health": -0.07,
    "per_child_at_home_max3": -0.015,
    "single_parent": -0.02,
    "origin_nederland": 0.02,
    "origin_migration_group": -0.01,  # Marokko, Turkije, Suriname, Caribisch_NL
    "married": 0.01,
    "widowed": -0.01,
    "problematic_debt": -0.02,
    "before_first_bijstand_entry": 0.12,
    "per_month_since_first_entry_max60": -0.05 / 60,
    "youngest_child_age_trend_intercept": -0.04,  # smooth in the child's age, no jump at 60 months
    "youngest_child_age_trend_per_month": 0.0004,  # applies while the youngest child is under 216 months
    "person_effect_sd": 0.04,  # idiosyncratic, constant, independent of every assignment
    "ar1_rho": 0.9,  # idiosyncratic month-to-month component (stationary sd below)
    "ar1_sd": 0.03,
}
# Calendar trend: linear growth plus a covid dip (months are 'YYYY-MM').
TREND_PER_YEAR = 0.005
COVID_DIP = {"from": "2020-04", "to": "2020-09", "effect": -0.03}

# Bijstand dynamics (no effect on the employment index, so planted effects stay exact).
BIJSTAND = {
    "stock_share_at_window_start": 0.68,
    "stock_elapsed_months_mean": 40,
    "exit_if_employed_two_months": 0.8,  # job held this and last month, not a low-hours job
    "exit_if_new_fulltime_job": 0.5,  # >= 32 hours a week
    "exit_if_new_other_job": 0.1,
    "exit_other_reasons_per_month": 0.006,
    "reentry_per_month_after_two_months_without_job": 0.12,
    "pension_age": 67,
    "low_hours_per_week": 20,  # below this a job tops up bijstand instead of ending it
}

EXEMPTION_9A = {
    "effect": -0.04,  # homogeneous, on every exempt person-month
    "take_up_base": 0.58,
    "take_up_poor_health": 0.10,
    "take_up_two_or_more_children": 0.05,
    "take_up_origin_nederland": -0.06,
    "take_up_under_30": 0.04,
    "cutoff_months": 60,
}
ART9_DRINGEND = {
    "hazard_poor_health": 0.004,
    "hazard_good_health": 0.0006,
    "months": (3, 12),
    "effect": 0.0,
}


@dataclass(frozen=True)
class Instrument:
    duration: int  # months active from the start month
    during: float  # effect while active (lock-in or subsidised job)
    post: float  # base effect from month `duration` after the start on (times the post multipliers)
    hazard: float  # base monthly start hazard among eligible persons
    hazard_multipliers: tuple[tuple[str, float], ...]  # (condition, factor) on observables only
    # (condition, factor) on the post effect, in the start month: who gains most differs by instrument
    post_modifiers: tuple[tuple[str, float], ...] = ()


INSTRUMENTS: dict[str, Instrument] = {
    "loonkostensubsidie": Instrument(
        12, 0.25, 0.04, 0.004, (("good_health", 1.6), ("duration_6_36", 1.3), ("age_50_plus", 0.6))
    ),
    # training goes to clients far from work; mediation (below) first to those who worked last month
    "scholing": Instrument(
        6,
        -0.03,
        0.05,
        0.007,
        (
            ("age_under_30", 1.5),
            ("single_parent", 1.8),
            ("duration_36_plus", 1.6),
            ("origin_not_nederland", 1.4),
            ("age_50_plus", 0.6),
            ("woman", 1.2),
            ("employed_last_month", 0.3),
        ),
        post_modifiers=(("woman", 1.5), ("man", 0.5)),
    ),
    "werkervaringsplaats": Instrument(
        6,
        -0.02,
        0.03,
        0.005,
        (("age_under_30", 1.4), ("duration_12_60", 1.3), ("origin_not_nederland", 1.3)),
    ),
    "jobcoach": Instrument(
        6,
        0.03,
        0.02,
        0.004,
        (("poor_health", 1.5), ("age_under_30", 1.3)),
        post_modifiers=(("poor_health", 6.0),),
    ),
    "proefplaatsing": Instrument(
        2,
        0.0,
        0.04,
        0.004,
        (("good_health", 1.4), ("duration_under_12", 1.5), ("man", 1.2)),
        post_modifiers=(("man", 1.8), ("woman", 0.5)),
    ),
    "sociale_activering": Instrument(
        6,
        -0.01,
        0.01,
        0.006,
        (
            ("poor_health", 2.0),
            ("duration_36_plus", 1.8),
            ("age_50_plus", 1.5),
            ("duration_under_12", 0.5),
        ),
    ),
    "bemiddeling": Instrument(
        3,
        0.0,
        0.03,
        0.009,
        (
            ("duration_under_12", 1.5),
            ("poor_health", 0.6),
            ("employed_last_month", 6.0),
            ("debt_assistance_active", 2.5),
        ),
    ),
    "beschut_werk": Instrument(
        24, 0.40, 0.02, 0.0015, (("poor_health", 3.0), ("age_under_30", 0.7))
    ),
}
# Post effects are post * sex * n_children band * marital status * health * the instrument's own
# post_modifiers, at the start month. The modifiers make the best instrument differ by subgroup:
# training for women, a trial placement for men, job coaching for people in poor health.
POST_MULTIPLIERS = {
    "sex": {"man": 0.8, "vrouw": 1.2},
    "n_children": {"0": 1.0, "1": 1.0, "2": 0.9, "3+": 0.8},
    "marital_status": {"never_married": 1.0, "married": 1.1, "divorced": 1.0, "widowed": 0.9},
    "health": {"good": 1.1, "poor": 0.6},
}
HORIZONS = (3, 6, 12, 24)

# Combined approach: debt assistance, and mediation started while or after receiving it.
DEBT_ASSISTANCE = {
    "hazard": 0.02,  # per month, among persons on bijstand with problematic debt, once per person
    "hazard_multipliers": (
        ("woman", 1.2),
        ("single_parent", 1.3),
        ("poor_health", 0.8),
        ("age_under_30", 0.8),
    ),
    "months": (12, 36),
    "employment_effect": 0.0,
    "mediation_interaction": 0.04,  # added to the bemiddeling post effect
    "care_cost_effect_eur_per_year": -300.0,  # every calendar year after the start year
    "codes": {"STABILISATIE": 0.40, "BUDGETBEHEER": 0.35, "SCHULDREGELING": 0.25},
}
PROBLEMATIC_DEBT_SHARE = 0.15
POOR_HEALTH_THRESHOLD = 2500.0
POOR_HEALTH_MIN_COSTS = 2850.0  # so that the debt-assistance saving keeps them >= the threshold
GOOD_HEALTH_COSTS = (400.0, 2499.0)
WMO = {
    "share_poor_health": 0.25,
    "share_good_health": 0.05,
    "months": (6, 48),
    "effect": 0.0,
    "codes": {
        "BEGELEIDING": 0.35,
        "DAGBESTEDING": 0.2,
        "HUISHOUDELIJKE_HULP": 0.3,
        "HULPMIDDEL": 0.15,
    },
}
