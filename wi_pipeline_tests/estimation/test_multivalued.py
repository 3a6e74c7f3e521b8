"""Doubly robust APOs of a multi-valued treatment: agreement with the binary AIPW estimator,
known answers, influence functions against numerical derivatives, repeated-sampling coverage,
subgroup and heterogeneity tests, and input errors."""

import importlib.util
import pickle

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from scipy.special import expit

from wi_pipeline.estimation import (
    MultivaluedTreatmentResult,
    TreatmentEffectResult,
    WaldTest,
    estimate_multivalued_treatment,
    estimate_multivalued_treatments,
    estimate_treatment_effect,
)
from wi_pipeline.estimation import multivalued as MV

COVS = ["x1", "x2"]
HAS_RANKS = importlib.util.find_spec("wi_pipeline.estimation.ranks") is not None

# four arms: multinomial-logit participation (arm 0 is the base) and linear outcome models
GPS_COEF = np.array(
    [[0.0, 0.0, 0.0], [0.3, 0.8, -0.4], [-0.2, -0.6, 0.5], [-0.5, 0.4, 0.9]]
)  # const, x1, x2
OUT_COEF = np.array([[0.0, 1.0, 0.5], [0.3, 1.2, 0.2], [0.6, 0.7, 0.9], [1.0, 1.5, -0.2]])
TRUE_APO = OUT_COEF[:, 0] + 0.5 * OUT_COEF[:, 2]  # E[x1] = 0, E[x2] = 0.5


def selected(rng, n, hetero=True, noise=1.0):
    """The binary design of test_treatment.py."""
    x1 = rng.normal(size=n)
    x2 = (rng.random(n) < 0.4).astype(float)
    d = (rng.random(n) < expit(-0.5 + 0.8 * x1 + 0.5 * x2)).astype(float)
    effect = 1 + 0.5 * x1 if hetero else 2.0
    y = 1 + x1 + 0.5 * x2 + noise * rng.normal(size=n) + d * effect
    return pd.DataFrame({"y": y, "d": d, "x1": x1, "x2": x2})


def four_arms(
    rng,
    n_ids,
    rows=(2, 3),
    effect=None,
    group_effect=0.0,
    labels=("A", "B", "C", "D"),
    out_coef=OUT_COEF,
):
    """Persons with 2-3 spells each; the arm is chosen per spell by a multinomial logit in (x1, x2).

    effect: optional function of the frame added to arm B's outcome (heterogeneity in B vs A);
    group_effect: added to arm B's outcome in group g == 'g2' (a subgroup difference)."""
    size = rng.choice(rows, n_ids)
    ids = np.repeat(np.arange(n_ids), size)
    n = len(ids)
    x1 = (rng.normal(size=n_ids)[ids] + 0.5 * rng.normal(size=n)) / np.sqrt(1.25)
    x2 = (rng.random(n) < 0.5).astype(float)
    X = np.column_stack([np.ones(n), x1, x2])
    eta = X @ GPS_COEF.T
    P = np.exp(eta - eta.max(1, keepdims=True))
    P /= P.sum(1, keepdims=True)
    arm = (P.cumsum(1) < rng.random(n)[:, None]).sum(1).clip(max=3)
    y = (X @ out_coef.T)[np.arange(n), arm] + 0.7 * rng.normal(size=n_ids)[ids] + rng.normal(size=n)
    g = rng.choice(["g1", "g2", "g3"], n)
    df = pd.DataFrame({"id": ids, "x1": x1, "x2": x2, "arm": np.asarray(labels)[arm], "g": g})
    if effect is not None:
        y = y + (arm == 1) * effect(df)
    y = y + (arm == 1) * (g == "g2") * group_effect
    df["y"] = y
    return df


# ------------------------------------------------------------------------------------------------
# agreement with the binary estimator


@pytest.mark.parametrize("cluster", [None, "id"])
@pytest.mark.parametrize("weights", [None, "w"])
def test_two_arms_equal_binary_aipw_ate(cluster, weights):
    rng = np.random.default_rng(1)
    df = selected(rng, 2500)
    df["id"] = np.arange(len(df)) // 3
    df["w"] = rng.uniform(0.5, 3.0, len(df))
    b = estimate_treatment_effect(
        df,
        "y",
        "d",
        COVS,
        estimand="ATE",
        method="aipw",
        trim=None,
        cluster=cluster,
        weights=weights,
    )
    r = estimate_multivalued_treatment(
        df, "y", "d", COVS, trim=None, cluster=cluster, weights=weights
    )
    c = r.contrast(1, 0)
    assert isinstance(c, TreatmentEffectResult) and c.estimand == "APO(1.0) - APO(0.0)"
    assert c.estimate == pytest.approx(b.estimate, abs=1e-10)
    assert c.std_error == pytest.approx(b.std_error, abs=1e-10)
    assert (c.ci_low, c.ci_high, c.p_value) == pytest.approx(
        (b.ci_low, b.ci_high, b.p_value), abs=1e-9
    )
    assert (c.n_treated, c.n_control, c.n_obs, c.n_units) == (
        b.n_treated,
        b.n_control,
        b.n_obs,
        b.n_units,
    )


@pytest.mark.parametrize("cluster", [None, "id"])
def test_two_arms_float_trim_equals_binary_trim_and_refit(cluster):
    rng = np.random.default_rng(2)
    n = 3000
    x1 = rng.normal(scale=1.5, size=n)
    d = (rng.random(n) < expit(1.6 * x1)).astype(float)
    df = pd.DataFrame(
        {
            "x1": x1,
            "x2": rng.normal(size=n),
            "d": d,
            "y": x1 + d * (1 + 0.3 * x1) + rng.normal(size=n),
        }
    )
    df["id"] = np.arange(n) // 2
    b = estimate_treatment_effect(
        df, "y", "d", COVS, estimand="ATE", trim=(0.05, 0.95), cluster=cluster
    )
    r = estimate_multivalued_treatment(df, "y", "d", COVS, trim=0.05, cluster=cluster)
    c = r.contrast(1.0, 0.0)
    assert b.diagnostics["n_trimmed_treated"] > 0 and b.diagnostics["n_trimmed_control"] > 0
    assert r.diagnostics["n_trimmed"] == {
        0.0: b.diagnostics["n_trimmed_control"],
        1.0: b.diagnostics["n_trimmed_treated"],
    }
    assert c.estimate == pytest.approx(b.estimate, abs=1e-10)
    assert c.std_error == pytest.approx(b.std_error, abs=1e-10)
    assert r.n_obs == b.n_obs


def test_large_sample_path_matches_exact_newton(monkeypatch):
    """Subsample Hessians for the Newton steps and small row blocks give the same answer."""
    df = four_arms(np.random.default_rng(3), 2500)
    exact = estimate_multivalued_treatment(df, "y", "arm", COVS, cluster="id", groups=["g"])
    monkeypatch.setattr(MV, "_HESSIAN_ROWS", 800)
    monkeypatch.setattr(MV, "_CHUNK_ROWS", 333)
    fast = estimate_multivalued_treatment(df, "y", "arm", COVS, cluster="id", groups=["g"])
    a, b = exact.subgroup_table(include_overall=True), fast.subgroup_table(include_overall=True)
    np.testing.assert_allclose(b["estimate"], a["estimate"], rtol=0, atol=1e-9)
    np.testing.assert_allclose(b["std_error"], a["std_error"], rtol=1e-6)
    assert (b["n_units"] == a["n_units"]).all()


# ------------------------------------------------------------------------------------------------
# known answers


def test_randomised_design_without_covariates_gives_arm_means_and_their_ses():
    rng = np.random.default_rng(4)
    n = 3000
    arm = rng.choice([10, 20, 30], n, p=[0.5, 0.3, 0.2])
    df = pd.DataFrame({"arm": arm, "y": arm / 10 + rng.normal(size=n)})
    r = estimate_multivalued_treatment(df, "y", "arm", trim=None)
    po = r.potential_outcomes
    assert list(po.index) == [10, 20, 30] and r.reference == 10
    for a, grp in df.groupby("arm")["y"]:
        assert po.at[a, "estimate"] == pytest.approx(grp.mean(), abs=1e-10)
        se = np.sqrt(((grp - grp.mean()) ** 2).sum() * n / (n - 1)) / len(grp)
        assert po.at[a, "std_error"] == pytest.approx(se, rel=1e-8)
        assert po.at[a, "n_obs"] == po.at[a, "n_units"] == len(grp)
    # independent arms: the joint covariance is diagonal
    off = r.covariance.to_numpy() - np.diag(np.diag(r.covariance.to_numpy()))
    assert np.abs(off).max() < 1e-12


def test_randomised_design_with_covariates_is_close_to_arm_means_and_more_precise():
    rng = np.random.default_rng(5)
    n = 6000
    x1 = rng.normal(size=n)
    arm = rng.choice(["a", "b", "c", "d"], n)
    df = pd.DataFrame({"arm": arm, "x1": x1, "x2": rng.normal(size=n)})
    df["y"] = df["arm"].map({"a": 0.0, "b": 0.2, "c": 0.4, "d": 0.8}) + 2 * x1 + rng.normal(size=n)
    adj = estimate_multivalued_treatment(df, "y", "arm", COVS, trim=None)
    raw = estimate_multivalued_treatment(df, "y", "arm", trim=None)
    diff = adj.potential_outcomes["estimate"] - raw.potential_outcomes["estimate"]
    assert (diff.abs() < 3 * raw.potential_outcomes["std_error"]).all()
    # APOs keep the spread of the covariates over the population, contrasts do not
    assert (adj.potential_outcomes["std_error"] < 0.7 * raw.potential_outcomes["std_error"]).all()
    assert adj.contrast("d", "a").std_error < 0.5 * raw.contrast("d", "a").std_error


def test_confounded_four_arms_recovered_while_naive_means_are_biased():
    df = four_arms(np.random.default_rng(6), 16000)
    r = estimate_multivalued_treatment(df, "y", "arm", COVS, cluster="id", trim=None)
    po = r.potential_outcomes
    z = (po["estimate"].to_numpy() - TRUE_APO) / po["std_error"].to_numpy()
    assert np.all(np.abs(z) < 3), z
    naive = df.groupby("arm")["y"].mean().to_numpy()
    assert np.max(np.abs(naive - TRUE_APO) / po["std_error"].to_numpy()) > 10
    for a, b in (("B", "A"), ("D", "C"), ("C", "B")):
        c = r.contrast(a, b)
        ia, ib = "ABCD".index(a), "ABCD".index(b)
        assert abs(c.estimate - (TRUE_APO[ia] - TRUE_APO[ib])) < 3 * c.std_error
    # double robustness: a wrong (quadratic) outcome model is still rescued by the right score
    df2 = df.assign(y=df["y"] + (df["arm"] == "C") * 0.8 * (df["x1"] ** 2 - 1))
    r2 = estimate_multivalued_treatment(df2, "y", "arm", COVS, cluster="id", trim=None)
    c2 = r2.potential_outcomes.loc["C"]
    assert abs(c2["estimate"] - TRUE_APO[2]) < 3 * c2["std_error"]
    dg = r.diagnostics
    assert dg["propensity_converged"]
    for arm in "ABCD":
        assert (
            dg["balance"][arm]["max_abs_smd_after"] < 0.1 < dg["balance"][arm]["max_abs_smd_before"]
            or arm == "A"
        )
        assert 0 < dg["ess"][arm] < po.at[arm, "n_obs"]


def test_generalised_propensity_score_is_statsmodels_mnlogit_and_minmax_rule():
    rng = np.random.default_rng(7)
    df = four_arms(rng, 1500)
    df["x1"] *= 1.8  # poorer overlap, so the min-max rule trims
    codes = df["arm"].map({"A": 0, "B": 1, "C": 2, "D": 3}).to_numpy()
    X = sm.add_constant(df[COVS].to_numpy())
    P = sm.MNLogit(codes, X).fit(disp=0, method="newton", maxiter=100).predict(X)
    r = estimate_multivalued_treatment(df, "y", "arm", COVS, trim=None)
    for k, arm in enumerate("ABCD"):
        own = P[codes == k, k]
        ov = r.diagnostics["overlap"][arm]
        assert (ov["min"], ov["p50"], ov["max"]) == pytest.approx(
            (own.min(), np.median(own), own.max()), abs=1e-8
        )
    lo = np.max([P[codes == j].min(0) for j in range(4)], axis=0)
    hi = np.min([P[codes == j].max(0) for j in range(4)], axis=0)
    keep = np.all((P >= lo) & (P <= hi), axis=1)
    t = estimate_multivalued_treatment(df, "y", "arm", COVS)  # trim="minmax" is the default
    assert 0 < (~keep).sum() and t.n_obs == keep.sum()
    assert t.diagnostics["n_trimmed"] == {
        a: int((~keep & (codes == k)).sum()) for k, a in enumerate("ABCD")
    }
    assert "min-max" in t.method and t.diagnostics["n_input"] == len(df)
    # the base category is only a parametrisation
    other = estimate_multivalued_treatment(df, "y", "arm", COVS, reference="C")
    assert other.reference == "C"
    np.testing.assert_allclose(
        other.potential_outcomes["estimate"], t.potential_outcomes["estimate"], atol=1e-9
    )
    np.testing.assert_allclose(
        other.covariance.to_numpy(), t.covariance.to_numpy(), rtol=1e-6, atol=1e-14
    )


# ------------------------------------------------------------------------------------------------
# the influence functions: numerical derivatives of the estimator with respect to each row's weight


def test_joint_covariance_equals_that_of_numerical_influence_functions():
    """psi_i = n s_i d(estimate)/d(s_i): compares every cell (overall and subgroups, an outcome
    with missing values, sampling weights), unclustered and clustered."""
    rng = np.random.default_rng(8)
    n = 120
    x1 = rng.normal(size=n)
    x2 = (rng.random(n) < 0.5).astype(float)
    eta = np.column_stack([np.zeros(n), 0.3 + 0.6 * x1, -0.2 - 0.5 * x1 + 0.4 * x2])
    P = np.exp(eta) / np.exp(eta).sum(1, keepdims=True)
    arm = (P.cumsum(1) < rng.random(n)[:, None]).sum(1)
    y = 1 + x1 + 0.5 * arm + 0.3 * arm * x2 + rng.normal(size=n)
    y2 = y + rng.normal(size=n)
    y2[rng.random(n) < 0.2] = np.nan
    df = pd.DataFrame(
        {
            "y": y,
            "y2": y2,
            "arm": arm,
            "x1": x1,
            "x2": x2,
            "g": rng.choice(["u", "v"], n),
            "w": rng.uniform(0.5, 2.0, n),
            "id": rng.integers(0, 45, n),
        }
    )

    def cells(w, cluster=None):
        res = estimate_multivalued_treatments(
            df.assign(w=w),
            ["y", "y2"],
            "arm",
            COVS,
            weights="w",
            trim=None,
            groups=["g"],
            cluster=cluster,
        )
        return res, {
            o: res[o].subgroup_table(include_overall=True)["estimate"].to_numpy() for o in res
        }

    base_res, base = cells(df["w"].to_numpy())
    clus_res, _ = cells(df["w"].to_numpy(), cluster="id")
    s = df["w"].to_numpy() / df["w"].mean()
    h = 1e-6
    psi = {o: np.empty((n, len(base[o]))) for o in base}
    for i in range(n):
        w = df["w"].to_numpy().copy()
        w[i] += h * df["w"].mean()
        _, e = cells(w)
        for o in base:
            psi[o][i] = (e[o] - base[o]) / h * n  # n d(estimate)/d(s_i)
    codes = pd.factorize(df["id"])[0]
    for o in base:
        ps = psi[o] * s[:, None]
        assert np.abs(ps.mean(0)).max() < 1e-5  # influence functions have mean zero
        num = ps.T @ ps / n**2 * n / (n - 1)
        ana = base_res[o]._joint
        assert np.abs(num - ana).max() < 1e-5 * np.abs(ana).max()
        sums = np.zeros((codes.max() + 1, ps.shape[1]))
        np.add.at(sums, codes, ps)
        G = len(sums)
        num_c = sums.T @ sums / n**2 * G / (G - 1)
        assert np.abs(num_c - clus_res[o]._joint).max() < 1e-5 * np.abs(num_c).max()


# ------------------------------------------------------------------------------------------------
# repeated sampling


@pytest.fixture(scope="module")
def monte_carlo():
    rng = np.random.default_rng(20240601)
    results = []
    for _ in range(200):
        df = four_arms(rng, 800)  # ~2,000 rows, 2-3 per person
        results.append(
            estimate_multivalued_treatment(df, "y", "arm", COVS, cluster="id", trim=None)
        )
    return results


def test_monte_carlo_coverage_of_apos_and_contrasts(monte_carlo):
    arms = list("ABCD")
    apo_cov = np.mean(
        [
            [
                r.potential_outcomes.at[a, "ci_low"]
                <= TRUE_APO[k]
                <= r.potential_outcomes.at[a, "ci_high"]
                for k, a in enumerate(arms)
            ]
            for r in monte_carlo
        ],
        axis=0,
    )
    assert np.all((apo_cov >= 0.90) & (apo_cov <= 0.99)), apo_cov
    pairs = [(1, 0), (2, 0), (3, 0), (2, 1), (3, 2)]
    con_cov = []
    for i, j in pairs:
        cs = [r.contrast(arms[i], arms[j]) for r in monte_carlo]
        con_cov.append(np.mean([c.ci_low <= TRUE_APO[i] - TRUE_APO[j] <= c.ci_high for c in cs]))
        est = np.array([c.estimate for c in cs])
        assert abs(est.mean() - (TRUE_APO[i] - TRUE_APO[j])) < 0.25 * np.mean(
            [c.std_error for c in cs]
        )
    con_cov = np.array(con_cov)
    assert np.all((con_cov >= 0.90) & (con_cov <= 0.99)), con_cov
    r = monte_carlo[0]
    assert r.n_units == r.diagnostics["n_clusters"] and "t(" in r.method


def test_monte_carlo_interaction_of_a_2x2_is_covered_where_raw_cell_means_are_not(monte_carlo):
    """The four arms as the cells of a 2x2 (A neither, B first factor only, C second only, D both)."""
    interaction = {"D": 1, "C": -1, "B": -1, "A": 1}
    truth = TRUE_APO[3] - TRUE_APO[2] - TRUE_APO[1] + TRUE_APO[0]
    cs = [r.linear_contrast(interaction) for r in monte_carlo]
    coverage = np.mean([c.ci_low <= truth <= c.ci_high for c in cs])
    assert 0.90 <= coverage <= 0.99, coverage
    est, se = np.array([c.estimate for c in cs]), np.array([c.std_error for c in cs])
    assert abs(est.mean() - truth) < 0.25 * se.mean()
    assert abs(est.std() / se.mean() - 1) < 0.2  # the SE from the joint covariance is the spread
    r = monte_carlo[0]
    assert cs[0].estimand == "APO(D) - APO(C) - APO(B) + APO(A)"
    rng = np.random.default_rng(5)
    raw = []
    for _ in range(100):  # the same design's raw cell means: confounded by x1 and x2
        m = four_arms(rng, 800).groupby("arm")["y"].mean()
        raw.append(m["D"] - m["C"] - m["B"] + m["A"])
    assert abs(np.mean(raw) - truth) > 3 * np.std(raw) / np.sqrt(len(raw))
    # a two-arm contrast written as a linear contrast is the contrast
    c, lc = r.contrast("B", "A"), r.linear_contrast({"B": 1, "A": -1})
    assert np.isclose(c.estimate, lc.estimate) and np.isclose(c.std_error, lc.std_error)


@pytest.mark.skipif(not HAS_RANKS, reason="wi_pipeline.estimation.ranks is not there yet")
def test_monte_carlo_rank_sets_and_best_set(monte_carlo):
    true_rank = 1 + (TRUE_APO[None, :] > TRUE_APO[:, None]).sum(1)  # 1 = highest
    best = "ABCD"[int(np.argmax(TRUE_APO))]
    covered, best_in, informative = [], [], []
    for r in monte_carlo[:100]:
        rs = r.rank_sets(draws=2000)
        assert list(rs.index) == list("ABCD") and {"rank", "rank_low", "rank_high"} <= set(
            rs.columns
        )
        low, high = rs["rank_low"].to_numpy(), rs["rank_high"].to_numpy()
        covered.append(bool(np.all((low <= true_rank) & (true_rank <= high))))
        bs = r.best_set(draws=2000)
        best_in.append(best in bs)
        informative.append(len(bs) < 4)
    assert np.mean(covered) >= 0.93 and np.mean(best_in) >= 0.93
    assert np.mean(informative) > 0.5  # the sets are not trivially everything


# ------------------------------------------------------------------------------------------------
# subgroups


def test_subgroups_share_the_overall_fit_and_one_covariance():
    df = four_arms(np.random.default_rng(9), 1500)
    df["h"] = np.where(df["x2"] > 0, "hi", "lo")
    plain = estimate_multivalued_treatment(df, "y", "arm", COVS, cluster="id", trim=None)
    r = estimate_multivalued_treatment(
        df, "y", "arm", COVS, cluster="id", groups=["g", "h"], trim=None
    )
    pd.testing.assert_frame_equal(
        r.potential_outcomes, plain.potential_outcomes, rtol=1e-10, atol=1e-12
    )
    pd.testing.assert_frame_equal(r.covariance, plain.covariance, rtol=1e-9, atol=1e-14)
    tab = r.subgroup_table()
    assert list(tab.columns) == [
        "outcome",
        "dimension",
        "value",
        "arm",
        "estimate",
        "std_error",
        "ci_low",
        "ci_high",
        "n_obs",
        "n_units",
    ]
    assert len(tab) == (3 + 2) * 4 and set(tab["dimension"]) == {"g", "h"}
    sub = r.within("g", "g2")
    assert isinstance(sub, MultivaluedTreatmentResult) and sub.subgroup == ("g", "g2")
    rows = tab[tab["value"] == "g2"].set_index("arm")
    np.testing.assert_allclose(sub.potential_outcomes["estimate"], rows["estimate"])
    assert sub.n_obs == (df["g"] == "g2").sum()
    assert sub.potential_outcomes.at["B", "n_obs"] == ((df["g"] == "g2") & (df["arm"] == "B")).sum()
    assert (
        sub.potential_outcomes.at["B", "n_units"]
        == df.loc[(df["g"] == "g2") & (df["arm"] == "B"), "id"].nunique()
    )
    c = sub.contrast("B", "A")
    assert c.estimate == pytest.approx(rows.at["B", "estimate"] - rows.at["A", "estimate"])
    assert "g = g2" in c.diagnostics["subgroup"] and "within g = g2" in str(sub)
    assert sub.covariance.shape == (4, 4)
    # the same cells as a subgroup of the covariate x2 (h = 'hi' is x2 = 1)
    assert r.within("h", "hi").n_obs == (df["x2"] > 0).sum()
    if HAS_RANKS:
        assert set(sub.rank_sets(draws=500).columns) >= {"rank", "rank_low", "rank_high"}
        assert set(sub.best_set(draws=500)) <= set("ABCD")
    with pytest.raises(ValueError, match="not a value"):
        r.within("g", "g9")
    # an arm absent from one subgroup: that cell is undefined, the rest still works
    df.loc[(df["g"] == "g3") & (df["arm"] == "D"), "g"] = "g1"
    r = estimate_multivalued_treatment(df, "y", "arm", COVS, cluster="id", groups=["g"], trim=None)
    g3 = r.within("g", "g3")
    assert (
        np.isnan(g3.potential_outcomes.at["D", "estimate"])
        and g3.potential_outcomes.at["D", "n_obs"] == 0
    )
    assert np.isfinite(g3.potential_outcomes.drop("D")["std_error"]).all()
    assert np.isnan(g3.contrast("D", "A").estimate) and np.isfinite(g3.contrast("C", "A").std_error)
    t = r.heterogeneity_test("D", "A", "g")
    assert t.df == 1 and np.isfinite(t.p_value) and "(2 values)" in t.hypothesis
    if HAS_RANKS:
        assert list(g3.rank_sets(draws=500).index) == ["A", "B", "C"]
    with pytest.raises(ValueError, match="not a subgroup dimension"):
        r.within("x1", 0)
    with pytest.raises(ValueError, match="no subgroups"):
        plain.heterogeneity_test("B", "A", "g")


def test_heterogeneity_wald_test_detects_a_planted_difference_and_holds_its_size():
    df = four_arms(np.random.default_rng(10), 3000, group_effect=0.6)
    t = estimate_multivalued_treatment(
        df, "y", "arm", COVS, cluster="id", groups=["g"]
    ).heterogeneity_test("B", "A", "g")
    assert isinstance(t, WaldTest) and t.df == 2 and t.distribution == "chi2" and t.p_value < 1e-4
    r = estimate_multivalued_treatment(df, "y", "arm", COVS, cluster="id", groups=["g"])
    two = r.heterogeneity_test(
        "B", "A", "g", values=sorted(df["g"].unique())[:2]
    )  # e.g. the publishable ones
    assert two.df == 1 and "(2 values)" in two.hypothesis and two.statistic != t.statistic
    rng = np.random.default_rng(11)
    pvals = []
    for _ in range(200):
        df = four_arms(rng, 400)
        r = estimate_multivalued_treatment(
            df, "y", "arm", COVS, cluster="id", trim=None, groups=["g"]
        )
        pvals.append(r.heterogeneity_test("C", "A", "g").p_value)
    rate = np.mean(np.array(pvals) < 0.05)
    assert rate <= 0.10, rate


def test_blp_detects_planted_heterogeneity_and_holds_its_size():
    df = four_arms(np.random.default_rng(12), 3000, effect=lambda d: 1.0 * d["x1"])
    r = estimate_multivalued_treatment(df, "y", "arm", COVS, cluster="id")
    blp = r.blp_test("B", "A")
    assert blp.beta2 > 0 and blp.p_value < 1e-4
    assert blp.gates_difference > 0 and blp.gates_p_value < 1e-3
    assert (
        list(blp.gates.index) == ["G1", "G2", "G3", "G4", "G5"]
        and blp.gates["n_obs"].sum() == r.n_obs
    )
    frame = blp.to_frame()
    assert list(frame["parameter"]) == [
        "blp_beta1",
        "blp_beta2",
        "gates_G1",
        "gates_G2",
        "gates_G3",
        "gates_G4",
        "gates_G5",
        "gates_top_minus_bottom",
    ]
    assert (
        "beta2" in str(blp) and "GATES" in str(blp) and blp.n_units == r.n_units and blp.folds == 5
    )
    rng = np.random.default_rng(13)
    parallel = OUT_COEF.copy()
    parallel[1, 1:] = parallel[0, 1:]  # B - A is the same for everyone
    pvals = []
    for _ in range(150):
        df = four_arms(rng, 400, out_coef=parallel)
        pvals.append(
            estimate_multivalued_treatment(df, "y", "arm", COVS, cluster="id", trim=None)
            .blp_test("B", "A", seed=1)
            .p_value
        )
    rate = np.mean(np.array(pvals) < 0.05)
    assert rate <= 0.10, rate


def test_blp_within_a_subgroup_and_not_after_pickling():
    df = four_arms(np.random.default_rng(14), 1500, effect=lambda d: d["x1"])
    r = estimate_multivalued_treatment(df, "y", "arm", COVS, cluster="id", groups=["g"])
    sub = r.within("g", "g1").blp_test("B", "A")
    assert sub.n_obs == r.within("g", "g1").n_obs and sub.beta2 > 0
    back = pickle.loads(pickle.dumps(r))
    assert back.potential_outcomes.equals(r.potential_outcomes)
    assert back.contrast("B", "A").estimate == r.contrast("B", "A").estimate
    with pytest.raises(ValueError, match="pickled"):
        back.blp_test("B", "A")


# ------------------------------------------------------------------------------------------------
# several outcomes, missing values


def test_several_outcomes_share_one_propensity_fit_and_missing_outcomes_use_their_rows():
    rng = np.random.default_rng(15)
    df = four_arms(rng, 1500)
    df["y2"] = 2 * df["y"] + rng.normal(size=len(df))
    df["y3"] = df["y"].where(rng.random(len(df)) > 0.3)
    res = estimate_multivalued_treatments(
        df, ["y", "y2", "y3"], "arm", COVS, cluster="id", groups=["g"]
    )
    assert list(res) == ["y", "y2", "y3"]
    for o in ("y", "y2"):
        alone = estimate_multivalued_treatment(df, o, "arm", COVS, cluster="id", groups=["g"])
        pd.testing.assert_frame_equal(
            res[o].subgroup_table(True), alone.subgroup_table(True), rtol=1e-10
        )
    r3 = res["y3"]
    kept = res["y"].n_obs
    assert (
        r3.n_obs == kept - r3.diagnostics["n_missing_outcome"]
        and r3.diagnostics["n_missing_outcome"] > 0
    )
    assert r3.potential_outcomes["n_obs"].sum() == r3.n_obs
    z = (
        r3.potential_outcomes["estimate"] - res["y"].potential_outcomes["estimate"]
    ) / r3.potential_outcomes["std_error"]
    assert (z.abs() < 3).all()  # missing completely at random: the same APOs
    assert (r3.potential_outcomes["std_error"] > res["y"].potential_outcomes["std_error"]).all()
    with pytest.raises(ValueError, match=r"'y3' in \d+ row"):
        estimate_multivalued_treatment(df, "y3", "arm", COVS)


# ------------------------------------------------------------------------------------------------
# result object and errors


def test_result_object_api():
    df = four_arms(np.random.default_rng(16), 600)
    df["w"] = np.random.default_rng(17).uniform(0.5, 2, len(df))
    r = estimate_multivalued_treatment(df, "y", "arm", COVS, cluster="id", weights="w", trim=None)
    po = r.potential_outcomes
    assert list(po.columns) == ["estimate", "std_error", "ci_low", "ci_high", "n_obs", "n_units"]
    assert po.index.name == "arm" and r.arms == list("ABCD")
    assert (po["ci_low"] < po["estimate"]).all() and (po["estimate"] < po["ci_high"]).all()
    assert po["n_obs"].sum() == r.n_obs and r.n_units == df["id"].nunique()
    assert po.at["A", "n_units"] == df.loc[df["arm"] == "A", "id"].nunique()
    V = r.covariance.to_numpy()
    assert np.allclose(V, V.T) and np.linalg.eigvalsh(V).min() > 0
    assert np.allclose(np.sqrt(np.diag(V)), po["std_error"])
    assert r.df_resid == r.n_obs - (3 * 3 + 4 * 3 + 4)
    assert (
        "multinomial-logit" in r.method
        and "weighted by 'w'" in r.method
        and "clustered by 'id'" in r.method
    )
    for key in ("overlap", "n_trimmed", "balance", "ess"):
        assert set(r.diagnostics[key]) == set("ABCD")
    assert set(r.diagnostics["overlap"]["B"]) >= {"min", "p05", "p50", "p95", "max", "mean"}
    text = str(r)
    assert text == r.summary() and "'arm' on 'y'" in text and "gps_p50" in text
    assert "MultivaluedTreatmentResult" in repr(r)
    frame = r.to_frame()
    assert len(frame) == 4 and {
        "estimate",
        "gps_p50",
        "ess",
        "balance_max_abs_smd_after",
        "method",
    } <= set(frame)
    c = r.contrast("D", "A")
    assert c.n_treated == po.at["D", "n_obs"] and c.n_control == po.at["A", "n_obs"]
    assert set(c.diagnostics["overlap"]) == {"D", "A"} and c.to_frame().shape[0] == 1
    assert r.contrast("A", "A").estimate == 0.0
    with pytest.raises(ValueError, match="not an arm"):
        r.contrast("A", "Z")


def test_integer_arms_and_lookup_by_text():
    df = four_arms(np.random.default_rng(18), 500, labels=(3, 1, 4, 2))
    r = estimate_multivalued_treatment(df, "y", "arm", COVS, trim=None)
    assert r.arms == [1, 2, 3, 4]
    assert r.contrast("4", "1").estimate == r.contrast(4, 1).estimate


def test_errors_name_the_problem():
    df = four_arms(np.random.default_rng(19), 300)
    with pytest.raises(ValueError, match="single arm"):
        estimate_multivalued_treatment(df.assign(arm="A"), "y", "arm", COVS)
    bad = df.copy()
    bad.loc[[0, 5], "y"] = np.nan
    with pytest.raises(ValueError, match=r"'y' in 2 row\(s\)"):
        estimate_multivalued_treatment(bad, "y", "arm", COVS)
    bad = df.copy()
    bad.loc[3, "x1"] = np.nan
    with pytest.raises(ValueError, match=r"'x1' in 1 row"):
        estimate_multivalued_treatment(bad, "y", "arm", COVS)
    with pytest.raises(ValueError, match=r"not found.*'x9'"):
        estimate_multivalued_treatment(df, "y", "arm", ["x1", "x9"])
    one = df.copy()
    one.loc[one.index[0], "arm"] = "E"
    with pytest.raises(ValueError, match=r"at least 2 rows.*'E' \(1 row\)"):
        estimate_multivalued_treatment(one, "y", "arm", COVS)
    with pytest.raises(ValueError, match="too few rows"):
        estimate_multivalued_treatment(df.head(20), "y", "arm", COVS)
    with pytest.raises(ValueError, match="treatment column 'arm' has missing"):
        estimate_multivalued_treatment(
            df.assign(arm=df["arm"].where(df.index > 0)), "y", "arm", COVS
        )
    with pytest.raises(ValueError, match="group column 'g' has missing"):
        estimate_multivalued_treatment(
            df.assign(g=df["g"].where(df.index > 0)), "y", "arm", COVS, groups=["g"]
        )
    for trim in ("lechner", 0.3, -0.1, True):
        with pytest.raises(ValueError, match="trim"):
            estimate_multivalued_treatment(df, "y", "arm", COVS, trim=trim)
    with pytest.raises(ValueError, match="not an arm"):
        estimate_multivalued_treatment(df, "y", "arm", COVS, reference="Z")


def test_trimming_that_empties_an_arm_is_refused():
    rng = np.random.default_rng(20)
    n = 2000
    x1 = rng.normal(size=n)
    arm = np.where(rng.random(n) < 0.1, "rare", np.where(x1 + rng.normal(size=n) > 0, "a", "b"))
    df = pd.DataFrame({"arm": arm, "x1": x1, "y": x1 + rng.normal(size=n)})
    with pytest.raises(
        ValueError, match=r"empties arm\(s\) .*'rare' \(0 of \d+ rows left\).*do not overlap"
    ):
        estimate_multivalued_treatment(df, "y", "arm", ["x1"], trim=0.2)


def test_if_covariance_is_the_matrix_version_of_if_std_error():
    from wi_pipeline.estimation._inference import if_covariance, if_std_error

    rng = np.random.default_rng(21)
    psi = rng.normal(size=(500, 3))
    clusters = rng.integers(0, 120, 500)
    for cl in (None, clusters):
        cov, g = if_covariance(psi, cl)
        for j in range(3):
            se, g1 = if_std_error(psi[:, j], cl)
            assert np.sqrt(cov[j, j]) == pytest.approx(se, rel=1e-12) and g == g1
        assert np.allclose(cov, cov.T)


def test_robustness_value_matches_cinelli_hazlett_for_a_linear_model():
    """With a binary treatment and linear outcome and propensity, the omitted-variable bound of
    Chernozhukov et al. (2022) reduces to Cinelli & Hazlett's partial-R^2 robustness value,
    RV = (sqrt(f^4 + 4 f^2) - f^2) / 2 with f = t / sqrt(df) from the OLS of y on d and x."""
    import statsmodels.api as sm

    from wi_pipeline.estimation._inference import omitted_variable_bound

    rng = np.random.default_rng(3)
    n = 20_000
    x = rng.normal(size=n)
    d = (rng.random(n) < 1 / (1 + np.exp(-0.5 * x))).astype(float)
    y = 0.3 * d + x + rng.normal(size=n)
    df = pd.DataFrame({"y": y, "d": np.where(d == 1, "a", "b"), "x": x})
    r = estimate_multivalued_treatment(df, "y", "d", ["x"])
    sens = r.sensitivity("a", "b")
    ols = sm.OLS(y, sm.add_constant(np.column_stack([d, x]))).fit()
    f = ols.tvalues[1] / np.sqrt(ols.df_resid)
    rv_ch = 0.5 * (np.sqrt(f**4 + 4 * f**2) - f**2)
    assert sens["robustness_value"] == pytest.approx(rv_ch, rel=0.05)
    # the bound at that strength equals the estimate; the 95% value is smaller, and zero when the
    # interval holds zero
    rv = sens["robustness_value"]
    assert omitted_variable_bound(sens["sensitivity_scale"], rv, rv) == pytest.approx(
        r.contrast("a", "b").estimate, rel=1e-9
    )
    assert 0 < sens["robustness_value_95"] < rv
    null = estimate_multivalued_treatment(df.assign(y=x + rng.normal(size=n)), "y", "d", ["x"])
    assert null.sensitivity("a", "b")["robustness_value_95"] == 0.0
    with pytest.raises(ValueError, match="pickled"):
        import pickle

        pickle.loads(pickle.dumps(r)).sensitivity("a", "b")
