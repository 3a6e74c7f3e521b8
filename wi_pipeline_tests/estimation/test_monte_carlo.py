"""Repeated-sampling checks: 95% CI coverage, bias relative to the SE, and bias of the naive comparison."""

import numpy as np
import pandas as pd
import pytest
from scipy.special import expit

from wi_pipeline.estimation import (
    estimate_discontinuity,
    estimate_event_study,
    estimate_treatment_effect,
    naive_difference,
)

from .test_treatment import true_att

pytestmark = pytest.mark.slow


def summarise(estimates, ses, covered, truth):
    est = np.asarray(estimates)
    return {
        "bias": est.mean() - truth,
        "mean_se": float(np.mean(ses)),
        "sd": est.std(ddof=1),
        "coverage": float(np.mean(covered)),
    }


def check(stats, naive_est, naive_se, truth, naive_factor=5.0):
    assert 0.90 <= stats["coverage"] <= 0.99, stats
    assert abs(stats["bias"]) < 0.25 * stats["mean_se"], stats
    assert abs(np.mean(naive_est) - truth) > naive_factor * np.mean(naive_se), (
        np.mean(naive_est),
        truth,
    )


def run(reps, seed, draw, estimate, truth):
    rng = np.random.default_rng(seed)
    est, se, cov, n_est, n_se = [], [], [], [], []
    for _ in range(reps):
        df = draw(rng)
        r, nv = estimate(df)
        est.append(r.estimate)
        se.append(r.std_error)
        cov.append(r.ci_low <= truth <= r.ci_high)
        n_est.append(nv.estimate)
        n_se.append(nv.std_error)
    return summarise(est, se, cov, truth), n_est, n_se


def test_dr_att_with_selection_on_observables():
    def draw(rng, n=1000):
        x1 = rng.normal(size=n)
        x2 = (rng.random(n) < 0.4).astype(float)
        d = (rng.random(n) < expit(-0.5 + 0.8 * x1 + 0.5 * x2)).astype(float)
        y = 1 + x1 + 0.5 * x2 + rng.normal(size=n) + d * (1 + 0.5 * x1)
        return pd.DataFrame({"y": y, "d": d, "x1": x1, "x2": x2})

    def estimate(df):
        return (
            estimate_treatment_effect(df, "y", "d", ["x1", "x2"], estimand="ATT", trim=None),
            naive_difference(df, "y", "d"),
        )

    truth = true_att()
    stats, n_est, n_se = run(200, 20240101, draw, estimate, truth)
    check(stats, n_est, n_se, truth)


def rd_draw(fuzzy):
    def draw(rng, n=1500):
        x = rng.integers(0, 120, n).astype(float)  # age of the youngest child in months
        u = rng.normal(size=n)
        right = x >= 60
        if fuzzy:  # take-up of the exemption depends on the unobserved u
            d = (rng.random(n) < np.where(right, 0.15, 0.75) - 0.1 * np.sign(u)).astype(float)
        else:
            d = right.astype(float)
        y = 0.5 + 0.01 * x - 0.00005 * (x - 60) ** 2 + 1.0 * d + u
        return pd.DataFrame({"y": y, "x": x, "d": d})

    return draw


@pytest.mark.parametrize("fuzzy", [False, True], ids=["sharp", "fuzzy"])
def test_regression_discontinuity(fuzzy):
    def estimate(df):
        r = estimate_discontinuity(
            df, "y", "x", 60, fuzzy="d" if fuzzy else None, density_test=False
        )
        return r, naive_difference(df, "y", "d")

    stats, n_est, n_se = run(400, 7 + fuzzy, rd_draw(fuzzy), estimate, 1.0)
    check(stats, n_est, n_se, 1.0)


def test_event_study_with_person_fixed_effects():
    units, periods = 200, 24

    def draw(rng):
        uid = np.repeat(np.arange(units), periods)
        t = np.tile(np.arange(periods), units)
        ev = rng.integers(6, 18, units).astype(float)
        ev[:50] = np.nan  # never treated
        rel = t - ev[uid]
        alpha = rng.normal(size=units) + np.where(
            np.isnan(ev), 0.0, 1.5
        )  # the treated differ in level
        y = alpha[uid] + 0.5 * (rel >= 0) + rng.normal(size=t.size)
        return pd.DataFrame({"y": y, "id": uid, "rel": rel, "post": (rel >= 0).astype(float)})

    pre_p = []

    def estimate(df):
        r = estimate_event_study(df, "y", "id", "rel", window=(-6, 6), reference=-1, cluster="id")
        pre_p.append(r.pretrend_test.p_value)
        return r, naive_difference(df, "y", "post", cluster="id")

    stats, n_est, n_se = run(150, 99, draw, estimate, 0.5)
    check(stats, n_est, n_se, 0.5)
    assert (
        0.0 <= np.mean(np.asarray(pre_p) < 0.05) <= 0.12
    )  # no pre-trend: the joint test rarely rejects
