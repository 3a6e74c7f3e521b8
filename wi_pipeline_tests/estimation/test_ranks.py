"""Confidence sets for ranks (Mogstad, Romano, Shaikh & Wilhelm 2024), ported from R `csranks`.

Tests marked "mirrors" reproduce the authors' tests in R-CS-ranks/tests/testthat where their
expectation does not depend on the random draws.
"""

import time
import warnings

import numpy as np
import pandas as pd
import pytest

from wi_pipeline.estimation import best_set, rank_confidence_sets
from wi_pipeline.estimation.ranks import _pair_family, _scaled_differences


def true_ranks(theta):
    """Rank 1 = largest, ties share the best rank (csranks `irank`, omega = 0)."""
    theta = np.asarray(theta)
    return 1 + (theta[None, :] > theta[:, None]).sum(axis=1)


def assert_well_formed(res, p):
    assert list(res.columns) == ["estimate", "rank", "rank_low", "rank_high"]
    assert len(res) == p
    for col in ("rank", "rank_low", "rank_high"):
        assert res[col].dtype == np.int64
    assert not res.isna().any().any()
    assert ((1 <= res.rank_low) & (res.rank_low <= res["rank"])).all()
    assert ((res["rank"] <= res.rank_high) & (res.rank_high <= p)).all()


# --- the authors' tests ------------------------------------------------------------------


@pytest.mark.parametrize("simultaneous", [True, False])
@pytest.mark.parametrize("stepdown", [True, False])
def test_authors_class_size_and_range(simultaneous, stepdown):
    # mirrors test_csranks_simul.R and test_csranks_marg.R: "return value is of correct class and
    # size" and "lower and upper bounds are in the correct range of values" (x = 1:10, V = I,
    # R = 100, cstype = "two-sided"; the one-sided cstypes and `indices` are not ported).
    res = rank_confidence_sets(
        np.arange(1, 11),
        np.eye(10),
        simultaneous=simultaneous,
        stepdown=stepdown,
        draws=100,
        seed=1,
    )
    assert_well_formed(res, 10)


@pytest.mark.parametrize("stepdown", [True, False])
def test_authors_marginal_not_wider_than_simultaneous(stepdown):
    # mirrors test_csranks_compare.R "simultaneous CS is not wider than marginal CS"
    # (x = 1:5, V = I, R = 10000; the check is res1M$L >= res1S$L & res1M$U <= res1S$U).
    marg = rank_confidence_sets(
        np.arange(1, 6), np.eye(5), simultaneous=False, stepdown=stepdown, draws=10_000, seed=100
    )
    simul = rank_confidence_sets(
        np.arange(1, 6), np.eye(5), simultaneous=True, stepdown=stepdown, draws=10_000, seed=100
    )
    assert (marg.rank_low >= simul.rank_low).all() and (marg.rank_high <= simul.rank_high).all()


@pytest.mark.parametrize("simultaneous", [True, False])
def test_authors_stepdown_not_wider_than_single_step(simultaneous):
    # mirrors test_csranks_compare.R "CS with stepdown is not wider than single-step CS"
    # (x = 1:5, V = I, R = 1000, seed = 100).
    kw = dict(simultaneous=simultaneous, draws=1000, seed=100)
    step = rank_confidence_sets(np.arange(1, 6), np.eye(5), stepdown=True, **kw)
    single = rank_confidence_sets(np.arange(1, 6), np.eye(5), stepdown=False, **kw)
    assert (step.rank_low >= single.rank_low).all() and (step.rank_high <= single.rank_high).all()


def test_authors_tau_best_class_and_size():
    # mirrors test_cstaubest.R "return value is of correct class and size" (x = 1:10, V = I,
    # R = 100) for tau = 1; our return value is the list of labels instead of a logical vector.
    res = best_set(np.arange(1, 11), np.eye(10), draws=100, seed=1)
    assert isinstance(res, list)
    assert 9 in res and set(res) <= set(range(10))


def test_authors_identical_input_gives_identical_sets():
    # mirrors test_diffmeans.R "csdiffmeans returns identical CI for identical input"
    # (x = rep(1, 10), Sigma = diag(0.5)): no pair can be told apart, so every set is 1..10.
    res = rank_confidence_sets(np.ones(10), np.diag(np.full(10, 0.5)))
    assert (res["rank"] == 1).all()
    assert (res.rank_low == 1).all() and (res.rank_high == 10).all()
    assert best_set(np.ones(10), np.diag(np.full(10, 0.5))) == list(range(10))


def test_authors_pair_family():
    # mirrors test_diffmeans.R "Initialize_I0 works for patrial indices", stepdown + symmetric case
    # (p = 5, indices = c(2, 4), 0-based here): rows and columns of the units, no diagonal.
    expected = np.array(
        [
            [False, True, False, True, False],
            [True, False, True, True, True],
            [False, True, False, True, False],
            [True, True, True, False, True],
            [False, True, False, True, False],
        ]
    )
    np.testing.assert_array_equal(_pair_family(5, [1, 3]), expected)


def test_authors_scaled_differences():
    # mirrors test_diffmeans.R "calculate_scaled_diffs works" and "... works as master 0.2.2".
    z = np.array([[1.0, 2.0, 3.0], [1.0, 5.0, 9.0]])
    scales = np.array([[1.0, 1.0, 3.0], [1.0, 1.0, 2.0], [3.0, 2.0, 1.0]])
    out = _scaled_differences(z, scales)
    np.testing.assert_allclose(out[:, 1, 0], (z[:, 1] - z[:, 0]) / 1)
    np.testing.assert_allclose(out[:, 0, 1], (z[:, 0] - z[:, 1]) / 1)
    np.testing.assert_allclose(out[:, 2, 1], (z[:, 2] - z[:, 1]) / 2)
    np.testing.assert_allclose(out[:, 0, 2], (z[:, 0] - z[:, 2]) / 3)

    variance = np.arange(1, 6) / 10
    sd = np.sqrt(variance[:, None] + variance[None, :])
    family = _pair_family(5, [1, 3])
    z = np.arange(1.0, 6.0)
    expected = np.subtract.outer(z, z)[family] / sd[family]
    got = _scaled_differences(z[None, :], sd)[0][family]
    np.testing.assert_allclose(got, expected)
    assert got.max() == pytest.approx(expected.max())


def test_authors_point_ranks_and_ties():
    # mirrors test_rank_utils.R "irank works for sorted input" with omega = 0 (the default
    # csranks uses for its `rank`): largest value gets rank 1, ties share the best rank.
    x = [1, 3, 4, 4, 4, 7, 7, 10]
    res = rank_confidence_sets(x, np.eye(8), draws=200)
    assert res["rank"].tolist() == [8, 7, 4, 4, 4, 2, 2, 1]


def test_authors_argument_checks():
    # mirrors test_argument_checks.R "`Sigma` argument is handled correctly" and
    # "NAs are handled correctly" with na.rm = FALSE (na.rm itself is not ported).
    V = np.eye(10)
    with pytest.raises(ValueError, match="variances"):
        rank_confidence_sets(np.arange(10), np.arange(1, 11) / 10)
    with pytest.raises(ValueError, match="shape"):
        rank_confidence_sets(np.arange(10), V[1:, :])
    with pytest.raises(ValueError, match="shape"):
        rank_confidence_sets(np.arange(10), V[:, 1:])
    with pytest.raises(ValueError, match="estimates contain non-finite"):
        rank_confidence_sets(np.r_[np.arange(8.0), np.nan, 9.0], V)
    V_nan = V.copy()
    V_nan[3, 3] = np.nan
    with pytest.raises(ValueError, match="covariance contains non-finite"):
        rank_confidence_sets(np.arange(10), V_nan)


# --- hand-made cases ---------------------------------------------------------------------


@pytest.mark.parametrize("simultaneous", [True, False])
def test_well_separated_estimates_pin_down_every_rank(simultaneous):
    x = np.array([10.0, 0.0, 5.0, -3.0, 20.0])
    res = rank_confidence_sets(x, 0.01 * np.eye(5), simultaneous=simultaneous)
    assert res["rank"].tolist() == [2, 4, 3, 5, 1]
    assert (res.rank_low == res["rank"]).all() and (res.rank_high == res["rank"]).all()
    assert best_set(x, 0.01 * np.eye(5)) == [4]


def test_identical_estimates_with_large_variance_give_full_range():
    res = rank_confidence_sets(np.zeros(6), 100 * np.eye(6), simultaneous=False)
    assert (res.rank_low == 1).all() and (res.rank_high == 6).all()


def test_series_labels_are_kept_and_dataframe_covariance_is_aligned():
    x = pd.Series({"a": 1.0, "b": 3.0, "c": 2.0}, name="effect")
    cov = pd.DataFrame(0.0001 * np.eye(3), index=["a", "b", "c"], columns=["a", "b", "c"])
    cov.loc["b", "b"] = 4.0  # b is imprecise; shuffle the frame to check alignment by label
    res = rank_confidence_sets(x, cov.loc[["c", "a", "b"], ["b", "c", "a"]])
    assert res.index.tolist() == ["a", "b", "c"]
    assert res["rank"].tolist() == [3, 1, 2]
    assert res.loc["b", "rank_high"] == 3 and res.loc["a", "rank_low"] == 2
    assert best_set(x, cov) == ["b", "c"]
    assert best_set(x.to_numpy(), cov.to_numpy(), labels=["x", "y", "z"]) == ["y", "z"]


def test_correlation_matters_full_vs_diagonal_covariance():
    # Positively correlated estimates have precise differences, so a full covariance ranks them
    # where the diagonal (same variances) cannot: the method must use the off-diagonal terms.
    p = 5
    full = 0.999 * np.ones((p, p)) + 0.001 * np.eye(p)  # sd of a difference: 0.045
    x = 0.3 * np.arange(p)
    res_full = rank_confidence_sets(x, full)
    res_diag = rank_confidence_sets(x, np.diag(np.diag(full)))
    assert (res_full.rank_low == res_full.rank_high).all()
    assert (res_diag.rank_low == 1).all() and (res_diag.rank_high == p).all()
    assert best_set(x, full) == [4]


def test_zero_variance_difference_is_known_exactly():
    # Units 0 and 1 are perfectly correlated with equal variance: their difference is exact.
    cov = np.array([[1.0, 1.0, 0.0], [1.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        res = rank_confidence_sets([0.3, 0.2, 0.25], cov)
        zero = rank_confidence_sets([3.0, 1.0, 2.0], np.zeros((3, 3)))
    assert res.loc[0, "rank_high"] <= 2 and res.loc[1, "rank_low"] >= 2
    assert (zero.rank_low == zero["rank"]).all() and (zero.rank_high == zero["rank"]).all()


def test_single_estimate():
    res = rank_confidence_sets(pd.Series([1.5], index=["only"]), [[0.2]])
    assert res.loc["only"].tolist() == [1.5, 1, 1, 1]
    assert best_set([1.5], [[0.2]], labels=["only"]) == ["only"]


def test_best_set_is_lower_bound_one_of_simultaneous_sets():
    # In csranks the tau-best set uses the one-sided lower family of all ordered pairs, which is
    # the family of the two-sided simultaneous stepdown sets: same draws, same answer.
    rng = np.random.default_rng(3)
    a = rng.normal(size=(7, 7))
    cov = 0.05 * (a @ a.T / 7 + 0.2 * np.eye(7))
    x = rng.normal(scale=0.4, size=7)
    res = rank_confidence_sets(x, cov, seed=5)
    assert best_set(x, cov, seed=5) == res.index[res.rank_low == 1].tolist()
    marg = rank_confidence_sets(x, cov, seed=5, simultaneous=False)
    assert (marg.rank_low >= res.rank_low).all() and (marg.rank_high <= res.rank_high).all()
    assert_well_formed(marg, 7)


def test_seed_reproducible_and_fast():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(9, 9))
    cov = a @ a.T / 90
    x = rng.normal(scale=0.3, size=9)
    start = time.perf_counter()
    r1 = rank_confidence_sets(x, cov, seed=11)
    elapsed = time.perf_counter() - start
    pd.testing.assert_frame_equal(r1, rank_confidence_sets(x, cov, seed=11))
    assert elapsed < 1.0


# --- repeated sampling -------------------------------------------------------------------


def test_monte_carlo_coverage():
    theta = np.array([0.0, 0.1, 0.15, 0.5, 1.0, 1.0, 1.45, 1.5])  # near-ties and one exact tie
    p = theta.size
    rng = np.random.default_rng(2024)
    a = rng.normal(size=(p, p))
    cov = 0.03 * (a @ a.T / p + 0.5 * np.eye(p))  # correlated, unequal variances
    truth = true_ranks(theta)
    best = int(np.argmax(theta))
    chol = np.linalg.cholesky(cov)
    reps = 400
    simul_hits = best_hits = 0
    marg_hits = np.zeros(p)
    for r in range(reps):
        x = theta + chol @ rng.normal(size=p)
        s = rank_confidence_sets(x, cov, draws=2000, seed=r)
        simul_hits += bool(((s.rank_low <= truth) & (truth <= s.rank_high)).all())
        m = rank_confidence_sets(x, cov, draws=2000, seed=r, simultaneous=False)
        marg_hits += ((m.rank_low <= truth) & (truth <= m.rank_high)).to_numpy()
        best_hits += best in best_set(x, cov, draws=2000, seed=r)
    coverage = {
        "simultaneous": simul_hits / reps,
        "best": best_hits / reps,
        "marginal_min": float(marg_hits.min() / reps),
    }
    assert coverage["simultaneous"] >= 0.93, coverage
    assert coverage["best"] >= 0.93, coverage
    assert coverage["marginal_min"] >= 0.90, coverage


def test_monte_carlo_exact_size_when_all_tied():
    # All theta equal is the least favourable case (every pair is on the boundary of its null):
    # coverage should be close to nominal there, so the critical value is neither too small nor
    # needlessly large. True ranks are all 1, so a miss means some unit was shown below another.
    p = 8
    rng = np.random.default_rng(7)
    a = rng.normal(size=(p, p))
    cov = 0.03 * (a @ a.T / p + 0.5 * np.eye(p))
    chol = np.linalg.cholesky(cov)
    reps = 400
    hits = 0
    for r in range(reps):
        res = rank_confidence_sets(chol @ rng.normal(size=p), cov, draws=2000, seed=r)
        hits += bool((res.rank_low == 1).all())
    assert 0.92 <= hits / reps <= 0.98, hits / reps


# --- invalid input -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(estimates=[], covariance=np.zeros((0, 0))), "empty"),
        (dict(estimates=np.ones((2, 2)), covariance=np.eye(2)), "1-dimensional"),
        (dict(estimates=["a", "b"], covariance=np.eye(2)), "numeric"),
        (dict(estimates=[1.0, 2.0], covariance=np.eye(3)), "shape"),
        (dict(estimates=[1.0, np.inf], covariance=np.eye(2)), "non-finite"),
        (dict(estimates=[1.0, 2.0], covariance=[[1.0, 0.5], [0.0, 1.0]]), "not symmetric"),
        (dict(estimates=[1.0, 2.0], covariance=[[1.0, 2.0], [2.0, 1.0]]), "positive semi-definite"),
        (dict(estimates=[1.0, 2.0], covariance=[[-1.0, 0.0], [0.0, 1.0]]), "negative variances"),
        (dict(estimates=[1.0, 2.0], covariance=np.eye(2), labels=["a"]), "labels has 1"),
        (dict(estimates=[1.0, 2.0], covariance=np.eye(2), labels=["a", "a"]), "unique"),
        (
            dict(
                estimates=pd.Series([1.0, 2.0], index=["a", "b"]),
                covariance=pd.DataFrame(np.eye(2), index=["a", "c"], columns=["a", "c"]),
            ),
            "same labels",
        ),
        (dict(estimates=[1.0, 2.0], covariance=np.eye(2), level=1.0), "level"),
        (dict(estimates=[1.0, 2.0], covariance=np.eye(2), draws=0), "draws"),
    ],
)
def test_invalid_input_names_the_problem(kwargs, message):
    with pytest.raises(ValueError, match=message):
        rank_confidence_sets(**kwargs)
    kwargs.pop("simultaneous", None)
    with pytest.raises(ValueError, match=message):
        best_set(**kwargs)
