"""Assignment rules learned by exact tree search on cross-fitted doubly robust scores.

The search against brute-force enumeration of every depth-1/2 tree (and a hand-worked example),
the scores against an independent computation (statsmodels MNLogit, OLS per arm), recovery of a
planted rule, repeated-sampling coverage of the out-of-sample value and size of the gain tests
under a null outcome, capacities and costs, input errors and the shape of the outputs.
"""

import itertools

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

from wi_pipeline.estimation import learn_assignment_policy, policy_tree
from wi_pipeline.estimation import policy as PT

# ------------------------------------------------------------------------------------------------
# helpers: walk a returned tree independently of the estimator


def leaves_of(node, X, rows=None):
    """[(arm, row indices)] of the leaves, left to right (x <= threshold goes left)."""
    rows = np.arange(len(X)) if rows is None else rows
    if node.is_leaf:
        return [(node.arm, rows)]
    go_left = X[rows, node.feature] <= node.threshold
    return leaves_of(node.left, X, rows[go_left]) + leaves_of(node.right, X, rows[~go_left])


def depth_of(node):
    return 0 if node.is_leaf else 1 + max(depth_of(node.left), depth_of(node.right))


def reward_of(node, X, R):
    return sum(R[rows, arm].sum() for arm, rows in leaves_of(node, X))


def has_equal_sibling_leaves(node):
    if node.is_leaf:
        return False
    if node.left.is_leaf and node.right.is_leaf and node.left.arm == node.right.arm:
        return True
    return has_equal_sibling_leaves(node.left) or has_equal_sibling_leaves(node.right)


# ------------------------------------------------------------------------------------------------
# brute force: every tree of depth <= L with splits x_j <= v at every observed v; leaves take their
# best arm; trees with a leaf of fewer than `min_size` rows (or an empty leaf) are not allowed


def _leaf_value(mask, R, min_size):
    if mask.sum() < max(min_size, 1):
        return -np.inf
    return float((mask @ R).max())


def brute_force(X, R, depth, min_size=1):
    splits = [X[:, j] <= v for j in range(X.shape[1]) for v in np.unique(X[:, j])]
    everyone = np.ones(len(X), dtype=bool)
    if depth == 1:
        trees = [_leaf_value(everyone, R, min_size)]
        trees += [_leaf_value(s, R, min_size) + _leaf_value(~s, R, min_size) for s in splits]
        return max(trees)
    assert depth == 2

    def options(
        region,
    ):  # value of every depth-<=1 subtree of a region: a leaf, or each split of it
        return np.array(
            [_leaf_value(region, R, min_size)]
            + [
                _leaf_value(region & s, R, min_size) + _leaf_value(region & ~s, R, min_size)
                for s in splits
            ]
        )

    best = _leaf_value(everyone, R, min_size)
    for s in splits:  # every root, then every (left subtree, right subtree) pair
        pairs = options(s)[:, None] + options(~s)[None, :]
        best = max(best, float(pairs.max()))
    return best


def dp_best(X, R, rows, depth, min_size):
    """Best total over trees of depth <= `depth` on `rows` by recursion (for depth 3 on tiny data)."""
    if len(rows) < max(min_size, 1):
        return -np.inf
    best = float(R[rows].sum(axis=0).max())
    if depth == 0:
        return best
    for j in range(X.shape[1]):
        for v in np.unique(X[rows, j]):
            left = X[rows, j] <= v
            if left.all():
                continue
            best = max(
                best,
                dp_best(X, R, rows[left], depth - 1, min_size)
                + dp_best(X, R, rows[~left], depth - 1, min_size),
            )
    return best


def random_problem(rng, n, K=3):
    X = np.column_stack(
        [rng.integers(0, 5, n), rng.integers(0, 3, n), rng.choice([-1.5, 0.0, 0.5, 2.0, 7.0], n)]
    )
    return X.astype(float), rng.normal(size=(n, K)) + rng.normal(size=K)


# ------------------------------------------------------------------------------------------------
# 1. exact search


@pytest.mark.parametrize("seed", range(8))
def test_policy_tree_matches_brute_force(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(60, 201))
    X, R = random_problem(rng, n)
    for depth in (1, 2):
        for min_size in (1, 7, n // 4):
            tree = policy_tree(X, R, depth=depth, min_node_size=min_size)
            got = reward_of(tree, X, R)
            want = brute_force(X, R, depth, min_size)
            assert got == pytest.approx(want, rel=1e-12, abs=1e-9), (depth, min_size)
            assert depth_of(tree) <= depth
            assert all(len(rows) >= min_size for _, rows in leaves_of(tree, X))
            assert not has_equal_sibling_leaves(tree)
            # every leaf takes its best arm
            for arm, rows in leaves_of(tree, X):
                assert R[rows, arm].sum() == pytest.approx(R[rows].sum(axis=0).max(), abs=1e-9)


@pytest.mark.parametrize("seed", range(3))
def test_policy_tree_with_weights_matches_brute_force_on_weighted_rewards(seed):
    rng = np.random.default_rng(100 + seed)
    X, R = random_problem(rng, 120)
    w = rng.uniform(0.2, 3.0, len(X))
    for depth, min_size in ((1, 1), (2, 1), (2, 12)):
        tree = policy_tree(X, R, depth=depth, min_node_size=min_size, weights=w)
        # min_node_size counts rows, the rewards are weighted
        assert reward_of(tree, X, R * w[:, None]) == pytest.approx(
            brute_force(X, R * w[:, None], depth, min_size), rel=1e-12, abs=1e-9
        )
        assert all(len(rows) >= min_size for _, rows in leaves_of(tree, X))


@pytest.mark.parametrize("seed", range(3))
def test_policy_tree_depth_three_matches_recursion(seed):
    rng = np.random.default_rng(200 + seed)
    n = 40
    X = np.column_stack([rng.integers(0, 4, n), rng.integers(0, 3, n)]).astype(float)
    R = rng.normal(size=(n, 3))
    for min_size in (1, 4):
        tree = policy_tree(X, R, depth=3, min_node_size=min_size)
        assert reward_of(tree, X, R) == pytest.approx(
            dp_best(X, R, np.arange(n), 3, min_size), abs=1e-9
        )
        assert depth_of(tree) <= 3
        assert all(len(rows) >= min_size for _, rows in leaves_of(tree, X))


def test_policy_tree_hand_worked_example():
    # two rows in each cell (a, b), a in {0, 1}, b in {0, 1, 2}; reward 1 for the cell's arm:
    #   a = 0: arm 0 if b = 0, arm 1 if b >= 1        a = 1: arm 2 if b <= 1, arm 0 if b = 2
    # Only a root split on a classifies everything (total 12): a <= 0 ? (b <= 0 ? 0 : 1) : (b <= 1 ? 2 : 0).
    cells = [(0, 0, 0), (0, 1, 1), (0, 2, 1), (1, 0, 2), (1, 1, 2), (1, 2, 0)]
    X = np.array([(a, b) for a, b, _ in cells for _ in range(2)], dtype=float)
    R = np.zeros((12, 3))
    R[np.arange(12), [arm for *_, arm in cells for _ in range(2)]] = 1.0

    t = policy_tree(X, R, depth=2)
    assert (t.feature, t.threshold) == (0, 0.0)
    assert (t.left.feature, t.left.threshold, t.left.left.arm, t.left.right.arm) == (1, 0.0, 0, 1)
    assert (t.right.feature, t.right.threshold, t.right.left.arm, t.right.right.arm) == (
        1,
        1.0,
        2,
        0,
    )
    assert all(c.is_leaf for c in (t.left.left, t.left.right, t.right.left, t.right.right))
    assert reward_of(t, X, R) == 12

    # depth 1: a <= 0 gives arm 1 (4 rows right) | arm 2 (4): total 8; the splits on b reach only 6
    s = policy_tree(X, R, depth=1)
    assert (s.feature, s.threshold, s.left.arm, s.right.arm) == (0, 0.0, 1, 2)
    # with 3 rows per leaf the left split b <= 0 (2 rows) is not allowed any more
    t3 = policy_tree(X, R, depth=2, min_node_size=3)
    assert all(len(rows) >= 3 for _, rows in leaves_of(t3, X))
    assert reward_of(t3, X, R) == brute_force(X, R, 2, 3) < 12
    # ties between arms go to the first one: everyone has rewards (1, 1, 0)
    tie = policy_tree(X, np.tile([1.0, 1.0, 0.0], (12, 1)), depth=2)
    assert tie.is_leaf and tie.arm == 0


def test_one_arm_best_everywhere_is_a_single_leaf():
    rng = np.random.default_rng(3)
    X, R = random_problem(rng, 150)
    R[:, 2] = R.max(axis=1) + 0.1  # arm 2 is the best arm of every row
    for depth in (1, 2, 3):
        tree = policy_tree(X, R, depth=depth)
        assert tree.is_leaf and tree.arm == 2


def test_prune_merges_sibling_leaves_with_the_same_arm():
    N = PT._Node
    tree = N(
        feature=0,
        threshold=0.0,
        left=N(arm=1),
        right=N(feature=1, threshold=2.0, left=N(arm=1), right=N(arm=1)),
    )
    pruned = PT._prune(tree)
    assert pruned.is_leaf and pruned.arm == 1
    kept = PT._prune(
        N(
            feature=0,
            threshold=0.0,
            left=N(arm=1),
            right=N(feature=1, threshold=2.0, left=N(arm=2), right=N(arm=2)),
        )
    )
    assert kept.left.is_leaf and kept.left.arm == 1
    assert kept.right.is_leaf and kept.right.arm == 2  # the right subtree collapses, the root stays


# ------------------------------------------------------------------------------------------------
# simulated design: "wait" and three instruments; the best arm differs by sex and health


ARMS = ["wait", "coaching", "training", "subsidy"]
COVS = ["woman", "poor_health", "age_band", "z"]
FEATS = ["woman", "poor_health", "age_band"]
P_WOMAN, P_POOR = 0.5, 0.35
# effect of each arm over the common mean: const + woman + poor health (no interaction, so per-arm OLS
# on the covariates is correctly specified):
#   men in good health: training (1.2 vs 0.2); women in good health: subsidy (1.2 vs 0.2);
#   poor health: coaching (1.5 vs 0 / 0.7)
TAU = np.array([[0.0, 0.0, 0.0], [0.2, 0.0, 1.3], [1.2, -1.0, -1.2], [0.2, 1.0, -0.5]])
# multinomial logit of the arm on (1, woman, poor_health, age_band, z): caseworkers send people with
# poor prospects (low z, which lowers the outcome) to the instruments -> a naive comparison is biased
PS_COEF = np.array(
    [
        [0.0, 0.0, 0.0, 0.0, 0.0],
        [-0.2, 0.3, 0.5, -0.1, -0.9],
        [-0.4, -0.4, -0.3, 0.1, -0.9],
        [-0.6, 0.4, 0.2, -0.2, -0.9],
    ]
)


def base_mean(woman, poor, age, z):
    return 1 + 0.3 * woman - 0.5 * poor - 0.2 * age + 1.0 * z


def simulate(rng, n, null=False, noise=1.0):
    woman = (rng.random(n) < P_WOMAN).astype(float)
    poor = (rng.random(n) < P_POOR).astype(float)
    age = rng.integers(0, 4, n).astype(float)
    z = rng.normal(size=n)
    eta = np.column_stack([np.ones(n), woman, poor, age, z]) @ PS_COEF.T
    P = np.exp(eta - eta.max(axis=1, keepdims=True))
    P /= P.sum(axis=1, keepdims=True)
    d = (P.cumsum(axis=1) < rng.random(n)[:, None]).sum(axis=1).clip(max=3)
    mu = base_mean(woman, poor, age, z)[:, None] + np.column_stack(
        [np.ones(n), woman, poor]
    ) @ TAU.T * (not null)
    y = mu[np.arange(n), d] + noise * rng.normal(size=n)
    df = pd.DataFrame(
        {
            "y": y,
            "arm": np.asarray(ARMS, dtype=object)[d],
            "woman": woman,
            "poor_health": poor,
            "age_band": age,
            "z": z,
        }
    )
    return df, mu


# the population of feature cells (z is independent of them with mean 0, and mu is linear in z)
CELLS = pd.DataFrame(
    list(itertools.product([0.0, 1.0], [0.0, 1.0], [0.0, 1.0, 2.0, 3.0])), columns=FEATS
)
CELL_P = (
    np.where(CELLS.woman == 1, P_WOMAN, 1 - P_WOMAN)
    * np.where(CELLS.poor_health == 1, P_POOR, 1 - P_POOR)
    * 0.25
)
CELL_BASE = base_mean(CELLS.woman, CELLS.poor_health, CELLS.age_band, 0.0).to_numpy()
CELL_TAU = np.column_stack([np.ones(len(CELLS)), CELLS.woman, CELLS.poor_health]) @ TAU.T


def rule_value(prob: pd.DataFrame, null=False) -> float:
    """E[mu_pi(x)(x)] of a rule given as arm shares per row of CELLS."""
    gain = 0.0 if null else (prob[ARMS].to_numpy() * CELL_TAU).sum(axis=1)
    return float(np.sum(CELL_P * (CELL_BASE + gain)))


def learned_rule_value(res, null=False) -> float:
    """The estimand of `value`: the true value of the rule learned on the other persons."""
    return rule_value(res.assignment_probabilities(CELLS), null)


def optimal_arm(df):
    tau = np.column_stack([np.ones(len(df)), df.woman, df.poor_health]) @ TAU.T
    return np.asarray(ARMS, dtype=object)[tau.argmax(axis=1)]


def learn(df, **kw):
    return learn_assignment_policy(df, "y", "arm", COVS, FEATS, **kw)


@pytest.fixture(scope="module")
def big():
    df, _ = simulate(np.random.default_rng(11), 3000)
    return df, learn(df)


# ------------------------------------------------------------------------------------------------
# 2. scores reproduced independently


def test_scores_and_values_reproduced_independently():
    # a null outcome: the rule follows noise, which the valuation must not reward
    df, _ = simulate(np.random.default_rng(21), 700, null=True)
    res = learn(df, seed=4)
    n, K, arms = len(df), len(ARMS), res.arms
    fold = res._fold
    assert np.bincount(fold).tolist() == [140] * 5  # five balanced folds

    Zc = sm.add_constant(df[COVS].to_numpy())
    D = np.array([arms.index(a) for a in df.arm])
    y = df.y.to_numpy()
    P, M = np.empty((n, K)), np.empty((n, K))
    for f in range(5):
        tr, te = fold != f, fold == f
        mnl = sm.MNLogit(D[tr], Zc[tr]).fit(method="newton", maxiter=100, disp=0)
        P[te] = mnl.predict(Zc[te])
        for k in range(K):
            beta = np.linalg.lstsq(Zc[tr & (D == k)], y[tr & (D == k)], rcond=None)[0]
            M[te, k] = Zc[te] @ beta
    P = np.maximum(P, PT.PROPENSITY_FLOOR * np.bincount(D, minlength=K) / n)  # the documented floor
    # inverse-probability weights normalised to average one within each fold and arm (Hajek)
    w = 1.0 / P[np.arange(n), D]
    for f in range(5):
        for k in range(K):
            own = (fold == f) & (D == k)
            w[own] *= (fold == f).sum() / w[own].sum()
    G = M.copy()
    G[np.arange(n), D] += (y - M[np.arange(n), D]) * w

    # the fold fits stop at a Newton decrement of 1e-7 (estimation/policy.py), statsmodels at its own
    # tolerance: scores agree to about 1e-5
    np.testing.assert_allclose(
        res.arm_values().loc[arms, "estimate"], G.mean(axis=0), rtol=0, atol=1e-5
    )

    # the rule is the exact tree on the scores of the persons it is learned on, and nothing else
    held = res._held  # no clusters and no weights: sample order is df order
    assert 0.4 < held.mean() < 0.6
    X = df[FEATS].to_numpy(dtype=float)
    min_node = int(0.05 * 0.5 * n)  # the default: 5% of the learning rows
    tree = policy_tree(X[~held], G[~held], depth=2, min_node_size=min_node)
    rule_arm = np.empty(n, dtype=np.int64)
    for arm, rows in leaves_of(tree, X):
        rule_arm[rows] = arm
    np.testing.assert_array_equal(
        res.assign(df).to_numpy(), np.asarray(arms, dtype=object)[rule_arm]
    )
    # valued on the others: their scores at the rule's arms
    v = G[np.arange(n), rule_arm][held]
    value = res.value
    assert value.n_obs == held.sum()
    assert value.estimate == pytest.approx(v.mean(), abs=1e-5)
    assert value.std_error == pytest.approx(v.std(ddof=1) / np.sqrt(held.sum()), rel=1e-4)
    assert res.gain_over("observed").estimate == pytest.approx((v - y[held]).mean(), abs=1e-5)
    for k, a in enumerate(arms):
        assert res.gain_over(a).estimate == pytest.approx((v - G[held, k]).mean(), abs=1e-5)
    best = G[~held].mean(axis=0).argmax()  # chosen where the rule is learned
    assert res.best_arm == arms[best]
    assert res.gain_over("best").estimate == pytest.approx((v - G[held, best]).mean(), abs=1e-5)
    # the arms' values and contrasts use every row
    assert res.contrast(arms[1], arms[0]).estimate == pytest.approx(
        (G[:, 1] - G[:, 0]).mean(), abs=1e-5
    )


def test_cluster_folds_keep_clusters_together():
    df, _ = simulate(np.random.default_rng(22), 600)
    df["person"] = np.arange(len(df)) // 3
    res = learn(df, cluster="person")
    person = df.person.to_numpy()[res._sample.rows]
    assert all(len(np.unique(res._fold[person == p])) == 1 for p in np.unique(person))
    # persons are held out whole, and counted as units
    assert all(len(np.unique(res._held[person == p])) == 1 for p in np.unique(person))
    assert res.value.n_units == len(np.unique(person[res._held]))


# ------------------------------------------------------------------------------------------------
# 3. the simulated design


def test_learned_rule_recovers_the_planted_rule(big):
    df, res = big
    assert np.mean(res.assign(df).to_numpy() == optimal_arm(df)) >= 0.9
    assert np.mean(res.assign(CELLS).to_numpy() == optimal_arm(CELLS)) >= 0.9
    # its true value is close to the oracle's, well above the best single arm's
    oracle = pd.DataFrame(
        (optimal_arm(CELLS)[:, None] == np.array(ARMS)[None, :]).astype(float), columns=ARMS
    )
    best_single = max(
        rule_value(pd.DataFrame(np.eye(len(ARMS))[[k] * len(CELLS)], columns=ARMS))
        for k in range(len(ARMS))
    )
    learned = rule_value(res.assignment_probabilities(CELLS))
    assert rule_value(oracle) - learned < 0.1 * (rule_value(oracle) - best_single)
    # and it beats giving everyone the best single arm
    assert res.gain_over("best").ci_low > 0


def test_naive_value_is_biased_by_confounding(big):
    df, res = big
    truth = rule_value(res.assignment_probabilities(CELLS))
    given = res.assign(df).to_numpy() == df.arm.to_numpy()
    naive = df.y[given].mean()
    naive_se = df.y[given].std() / np.sqrt(given.sum())
    # instruments go to people with poor prospects: the rows that got the rule's arm look worse
    assert naive < truth - 0.15 and naive < truth - 4 * naive_se
    v = res.value
    assert abs(v.estimate - learned_rule_value(res)) < 3 * v.std_error
    assert naive < v.ci_low


REPS_ALT, REPS_NULL, N_REP = 200, 150, 500


@pytest.fixture(scope="module")
def alt_reps():
    rng = np.random.default_rng(2024)
    out = []
    for r in range(REPS_ALT):
        df, _ = simulate(rng, N_REP)
        res = learn(df, seed=r)
        v, truth = res.value, learned_rule_value(res)
        out.append(((v.estimate - truth) / v.std_error, v.ci_low <= truth <= v.ci_high))
    return np.array(out)


@pytest.fixture(scope="module")
def null_reps():
    rng = np.random.default_rng(4048)
    out = []
    for r in range(REPS_NULL):
        df, _ = simulate(rng, N_REP, null=True)
        res = learn(df, seed=r)
        v, truth = res.value, learned_rule_value(res, null=True)
        out.append(
            (
                res.gain_over("observed").p_value,
                res.gain_over("best").p_value,
                (v.estimate - truth) / v.std_error,
            )
        )
    return np.array(out)


@pytest.mark.slow
def test_value_interval_covers_the_value_of_the_learned_rule(alt_reps):
    z, cover = alt_reps[:, 0], alt_reps[:, 1]
    # binomial SD of the coverage at 0.95 over 200 replications: 0.015
    assert 0.90 <= cover.mean() <= 0.99
    assert abs(z.mean()) < 0.25  # SE of the mean z: 0.07


@pytest.mark.slow
def test_null_outcome_gains_are_rarely_significant(null_reps):
    # all arms have the same mean: a 5% test should reject in 5% of replications (binomial SD 0.018
    # over 150); allow 10%
    assert np.mean(null_reps[:, 0] < 0.05) <= 0.10
    assert np.mean(null_reps[:, 1] < 0.05) <= 0.10


@pytest.mark.slow
def test_null_outcome_value_standard_error_is_calibrated(null_reps):
    # every rule has the same value here, so (estimate - truth) / SE should be ~N(0, 1): the SD of
    # 150 such z-scores has a sampling SD of ~0.06
    z = null_reps[:, 2]
    assert abs(z.mean()) < 0.3
    assert z.std() < 1.15


# ------------------------------------------------------------------------------------------------
# 4. capacities and costs


def weighted_shares(prob, w):
    return (prob.to_numpy() * w[:, None]).sum(axis=0) / w.sum()


def test_capacities_are_respected():
    rng = np.random.default_rng(31)
    df, _ = simulate(rng, 1500)
    df["w"] = rng.uniform(0.5, 2.0, len(df))
    w = df.w.to_numpy()
    caps = {"coaching": 0.2, "training": 0.25}
    free = learn(df, weights="w", seed=1)
    share_free = dict(zip(free.arms, weighted_shares(free.assignment_probabilities(df), w)))
    assert all(share_free[a] > c + 0.03 for a, c in caps.items())  # the capacities bind

    res = learn(df, weights="w", capacities=caps, seed=1)
    prob = res.assignment_probabilities(df)
    np.testing.assert_allclose(prob.sum(axis=1), 1.0)
    # the capacities hold, and are filled, on the persons the rule was learned on (no clusters:
    # sample order is df order); on everyone they hold up to sampling noise
    train = ~res._held
    share = dict(zip(res.arms, weighted_shares(prob[train], w[train])))
    for a, c in caps.items():
        assert share[a] <= c + 1e-9
        assert share[a] >= c - 1e-6  # a capacity worth using is filled
    everyone = dict(zip(res.arms, weighted_shares(prob, w)))
    assert all(everyone[a] <= c + 0.05 for a, c in caps.items())
    # every arm capped, capacities adding to more than 1
    all_caps = {"wait": 0.1, "coaching": 0.3, "training": 0.3, "subsidy": 0.35}
    res = learn(df, capacities=all_caps, seed=1)
    share = dict(zip(res.arms, res.assignment_probabilities(df)[~res._held].mean(axis=0)))
    assert all(share[a] <= c + 1e-9 for a, c in all_caps.items())


def test_capacities_and_costs_errors(big):
    df, _ = big
    with pytest.raises(ValueError, match="add up to"):
        learn(df, capacities={"wait": 0.2, "coaching": 0.3, "training": 0.2, "subsidy": 0.2})
    with pytest.raises(ValueError, match="not in the data"):
        learn(df, capacities={"yoga": 0.1})
    with pytest.raises(ValueError, match="not in the data"):
        learn(df, costs={"coaching": 0.1, "yoga": 1.0})


def test_costs_move_the_rule_away_from_a_costly_arm(big):
    df, res = big
    poor = df.poor_health.to_numpy() == 1
    assert (res.assign(df)[poor] == "coaching").all()
    costly = learn(df, costs={"coaching": 5.0})
    assert (costly.assign(df) != "coaching").all()
    assert (costly.assign(df)[poor] != "coaching").all()
    # a cost the gap can carry changes nothing
    cheap = learn(df, costs={"coaching": 0.3})
    assert (cheap.assign(df)[poor] == "coaching").all()
    # values are reported without the costs
    pd.testing.assert_frame_equal(costly.arm_values(), res.arm_values())


# ------------------------------------------------------------------------------------------------
# 5. input errors


@pytest.fixture(scope="module")
def small():
    return simulate(np.random.default_rng(41), 300)[0]


@pytest.mark.parametrize("depth", [0, 4])
def test_depth_out_of_range(small, depth):
    with pytest.raises(ValueError, match="depth must be 1, 2 or 3"):
        learn(small, depth=depth)


@pytest.mark.parametrize("holdout", [0.0, 1.0, 1.5])
def test_holdout_out_of_range(small, holdout):
    with pytest.raises(ValueError, match="holdout"):
        learn(small, holdout=holdout)


def test_single_fold(small):
    with pytest.raises(ValueError, match="folds must be at least 2"):
        learn(small, folds=1)


def test_feature_with_missing_values(small):
    df = small.assign(region=np.where(np.arange(len(small)) % 10 == 0, np.nan, 1.0))
    with pytest.raises(ValueError, match="feature column 'region' has missing values in 30 of 300"):
        learn_assignment_policy(df, "y", "arm", COVS, ["woman", "region"])


@pytest.mark.parametrize("role", ["outcome", "treatment", "covariate", "feature"])
def test_missing_column(small, role):
    args = {"outcome": "y", "treatment": "arm", "covariates": COVS, "features": FEATS}
    args[{"covariate": "covariates", "feature": "features"}.get(role, role)] = (
        [*COVS, "nope"]
        if role == "covariate"
        else [*FEATS, "nope"]
        if role == "feature"
        else "nope"
    )
    with pytest.raises(ValueError, match=r"not found in the DataFrame: \['nope'\]"):
        learn_assignment_policy(small, **args)


def test_unknown_baseline(small):
    res = learn(small)
    with pytest.raises(ValueError, match="baseline must be"):
        res.gain_over("yoga")


# ------------------------------------------------------------------------------------------------
# 6. outputs


def test_assign_rules_and_words(big):
    df, res = big
    df = df.set_axis([f"p{i}" for i in range(len(df))][::-1])  # an index that is not 0..n-1
    a = res.assign(df)
    assert a.index.equals(df.index)
    assert set(a.unique()) <= set(ARMS)
    shuffled = df.sample(frac=1.0, random_state=1)
    pd.testing.assert_series_equal(res.assign(shuffled), a.loc[shuffled.index])

    rules = res.rules
    n_leaves = len(leaves_of(res.tree, df[FEATS].to_numpy(dtype=float)))
    assert len(rules) == n_leaves >= 3
    assert rules.population_share.sum() == pytest.approx(1.0)
    # the groups are described on the persons the rule is valued on (no clusters: sample order is df order)
    held = res._held
    assert rules.n_obs.sum() == held.sum()
    a_held = res.assign(df.iloc[np.flatnonzero(held)])
    for arm in ARMS:  # every row gets its leaf's arm
        assert (a_held == arm).sum() == rules.loc[rules.arm == arm, "n_obs"].sum()
    words = res.rules_in_words().splitlines()
    assert len(words) == n_leaves
    for line, arm in zip(words, rules.arm):
        assert f": {arm} (" in line


def test_for_outcome_reuses_folds_propensities_and_held_out_persons(big):
    df, res = big
    other = res.for_outcome(df.assign(y2=-df["y"]), "y2")
    assert other.outcome == "y2"
    np.testing.assert_array_equal(other._held, res._held)
    np.testing.assert_array_equal(other._P, res._P)
    # minus the outcome: the arm that was worst in a group is now best, so the rule changes
    assert (other.assign(df) != res.assign(df)).mean() > 0.5
    fresh = learn(df.assign(y2=-df["y"]).drop(columns="y").rename(columns={"y2": "y"}))
    assert other.value.estimate == pytest.approx(fresh.value.estimate, abs=1e-9)
    with pytest.raises(ValueError, match="learned on"):
        res.for_outcome(df.iloc[:10], "y")
