"""Which arm for whom: a shallow assignment rule learned from doubly robust scores, valued out of sample.

Athey & Wager (2021) and Zhou, Athey & Wager (2023): with cross-fitted doubly robust scores

    Gamma_ik = m_k(x_i) + 1{D_i = k} (y_i - m_k(x_i)) / p_k(x_i)

(multinomial-logit propensity p, per-arm least squares m, both fitted without the fold of row i;
p kept at or above a tenth of the arm's share, so that no single row decides the rule),
the mean of Gamma_i,pi(x_i) estimates the mean outcome if every person got the arm a rule pi gives
them. The rule is the depth-L tree that maximises that sum, found by exhaustive search over every
split of every feature as in the R package `policytree` (Sverdrup, Kanodia, Zhou, Athey & Wager):
a split sends x <= threshold left, a leaf takes the arm with the largest sum (the first on ties),
and two sibling leaves with the same arm are merged.

The value is honest: the rule is learned on part of the persons and valued on the others (Athey &
Wager's held-out evaluation), so given the rule, the held-out mean of Gamma at the rule's arms is
an ordinary doubly robust mean with an influence-function standard error (clustered). Valuing
each of K folds with a rule learned on the others would use all rows, but the K rules then share
data with each other's folds: their errors are correlated and that standard error is too small
when the rules chase noise (measured: 88% coverage of a 95% interval under no effect).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd
from scipy import optimize

from . import _validation as V
from ._inference import if_std_error, interval, omitted_variable_scale, robustness_value
from .multivalued import _GPS, _HESSIAN_ROWS, _prepare
from .results import EffectResult
from .treatment import _wls

# Out-of-fold propensity scores are kept at or above this fraction of the arm's (weighted) share.
PROPENSITY_FLOOR = 0.1
# Out-of-fold scores are floored (above), so a coefficient crawling off under quasi-separation need not
# be followed to the last 1e-10 of log-likelihood: this stops the fold fits in about half the steps.
_FOLD_DECREMENT_TOL = 1e-7
OBSERVED = "observed"  # gain_over: against the arms people actually got
BEST_SINGLE = "best"  # gain_over: against everyone getting the one arm that is best on average


# --------------------------------------------------------------------------------------------
# features and the exact tree search


@dataclass(frozen=True)
class _Feature:
    """One numeric split variable; categorical inputs become an ordered code or an indicator."""

    column: str
    values: np.ndarray  # the variable per row
    kind: str  # "number", "ordered" (codes of `labels`), "is" (1 = column equals `labels[0]`)
    labels: tuple = ()

    def describe(self, threshold: float, left: bool) -> str:
        if self.kind == "is":
            if len(self.labels) == 2:  # a two-valued label: name the other value
                return f"{self.column} is {self.labels[1] if left else self.labels[0]}"
            return f"{self.column} is {'not ' if left else ''}{self.labels[0]}"
        if self.kind == "ordered":
            t = int(threshold)
            return _range_words(self, -np.inf, t) if left else _range_words(self, t, np.inf)
        if threshold == 0 and set(np.unique(self.values)) <= {0.0, 1.0}:
            return f"{self.column} = {0 if left else 1}"
        return f"{self.column} {'<=' if left else '>'} {threshold:g}"


def _encode_features(df: pd.DataFrame, features: Sequence[str]) -> list[_Feature]:
    out = []
    for col in features:
        s = df[col]
        if s.isna().any():
            raise ValueError(
                f"feature column '{col}' has missing values in {int(s.isna().sum())} of {len(s)} rows"
            )
        if isinstance(s.dtype, pd.CategoricalDtype) and s.cat.ordered:
            out.append(
                _Feature(col, s.cat.codes.to_numpy(dtype=float), "ordered", tuple(s.cat.categories))
            )
        elif (
            pd.api.types.is_bool_dtype(s)
            or pd.api.types.is_numeric_dtype(s)
            and not isinstance(s.dtype, pd.CategoricalDtype)
        ):
            out.append(_Feature(col, s.to_numpy(dtype=float), "number"))
        else:  # unordered labels: one indicator per value (one for two values)
            values = sorted(s.astype(str).unique())
            if len(values) == 2:
                out.append(
                    _Feature(
                        col,
                        (s.astype(str) == values[1]).to_numpy(dtype=float),
                        "is",
                        (values[1], values[0]),
                    )
                )
                continue
            for v in values:
                out.append(_Feature(col, (s.astype(str) == v).to_numpy(dtype=float), "is", (v,)))
    return out


@dataclass
class _Node:
    arm: int | None = None  # a leaf's arm
    feature: int | None = None
    threshold: float = np.nan
    left: _Node | None = None
    right: _Node | None = None

    @property
    def is_leaf(self) -> bool:
        return self.feature is None


class _TreeSearch:
    """Exhaustive search over depth-L trees on distinct feature vectors ("points").

    Rows with the same feature vector always fall in the same leaf, so the search runs on their
    summed rewards; each feature's sort order of the points is computed once."""

    def __init__(self, X: np.ndarray, R: np.ndarray, counts: np.ndarray, min_node_size: int):
        self.X, self.R, self.c, self.min = X, R, counts, min_node_size
        self.order = [np.argsort(X[:, j], kind="stable") for j in range(X.shape[1])]

    def leaf(self, mask: np.ndarray) -> tuple[float, _Node]:
        tot = self.R[mask].sum(axis=0)
        k = int(np.argmax(tot))
        return float(tot[k]), _Node(arm=k)

    def best(self, mask: np.ndarray, depth: int) -> tuple[float, _Node]:
        best_value, best_node = self.leaf(mask)
        if depth == 0:
            return best_value, best_node
        if depth == 1:
            return self._best_stump(mask, best_value, best_node)
        for j, order in enumerate(self.order):
            sub = order[mask[order]]
            x = self.X[sub, j]
            cut = np.flatnonzero(x[1:] != x[:-1])  # split after position i
            cum = np.cumsum(self.c[sub])
            ok = (cum[cut] >= self.min) & (cum[-1] - cum[cut] >= self.min) if len(cum) else cut[:0]
            for i in cut[ok]:
                left = np.zeros_like(mask)
                left[sub[: i + 1]] = True
                right = mask & ~left
                vl, nl = self.best(left, depth - 1)
                vr, nr = self.best(right, depth - 1)
                if vl + vr > best_value + 1e-12 * (1 + abs(best_value)):
                    best_value = vl + vr
                    best_node = _Node(feature=j, threshold=float(x[i]), left=nl, right=nr)
        return best_value, best_node

    def _best_stump(self, mask, best_value, best_node):
        for j, order in enumerate(self.order):
            sub = order[mask[order]]
            if len(sub) < 2:
                continue
            x = self.X[sub, j]
            cut = np.flatnonzero(x[1:] != x[:-1])
            if not len(cut):
                continue
            cum = np.cumsum(self.c[sub])
            cut = cut[(cum[cut] >= self.min) & (cum[-1] - cum[cut] >= self.min)]
            if not len(cut):
                continue
            cumR = np.cumsum(self.R[sub], axis=0)
            left = cumR[cut]
            value = left.max(axis=1) + (cumR[-1] - left).max(axis=1)
            i = int(np.argmax(value))
            if value[i] > best_value + 1e-12 * (1 + abs(best_value)):
                best_value = float(value[i])
                best_node = _Node(
                    feature=j,
                    threshold=float(x[cut[i]]),
                    left=_Node(arm=int(np.argmax(left[i]))),
                    right=_Node(arm=int(np.argmax(cumR[-1] - left[i]))),
                )
        return best_value, best_node


def _prune(node: _Node) -> _Node:
    if node.is_leaf:
        return node
    node.left, node.right = _prune(node.left), _prune(node.right)
    if node.left.is_leaf and node.right.is_leaf and node.left.arm == node.right.arm:
        return _Node(arm=node.left.arm)
    return node


def _points(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct feature vectors and each row's point."""
    pts, inverse = np.unique(X, axis=0, return_inverse=True)
    return pts, inverse.ravel()


def policy_tree(
    X: np.ndarray,
    rewards: np.ndarray,
    depth: int = 2,
    min_node_size: int = 1,
    weights: np.ndarray | None = None,
) -> _Node:
    """The depth-`depth` tree with the largest total reward (policytree's `policy_tree`, split.step = 1).

    X: n x p numeric features; rewards: n x K (Gamma); min_node_size: rows per leaf at least;
    weights: row weights of the rewards (sampling weights)."""
    X = np.asarray(X, dtype=float)
    R = np.asarray(rewards, dtype=float)
    if weights is not None:
        R = R * np.asarray(weights, dtype=float)[:, None]
    pts, inv = _points(X)
    Rp = np.zeros((len(pts), R.shape[1]))
    np.add.at(Rp, inv, R)
    counts = np.bincount(inv, minlength=len(pts)).astype(float)
    search = _TreeSearch(pts, Rp, counts, max(int(min_node_size), 1))
    return _prune(search.best(np.ones(len(pts), dtype=bool), depth)[1])


def _leaf_index(node: _Node, X: np.ndarray) -> tuple[np.ndarray, list[_Node]]:
    """Leaf number of every row and the leaves in left-to-right order."""
    leaves: list[_Node] = []
    out = np.empty(len(X), dtype=np.int64)

    def walk(n: _Node, rows: np.ndarray):
        if n.is_leaf:
            out[rows] = len(leaves)
            leaves.append(n)
            return
        go_left = X[rows, n.feature] <= n.threshold
        walk(n.left, rows[go_left])
        walk(n.right, rows[~go_left])

    walk(node, np.arange(len(X)))
    return out, leaves


def _leaf_paths(node: _Node, feats: list[_Feature]) -> list[list[str]]:
    """Each leaf's conditions in words; two splits on one ordered feature become one range."""
    paths: list[list[str]] = []

    def walk(n: _Node, conds: dict):
        if n.is_leaf:
            paths.append(
                [text or _range_words(feats[j], lo, hi) for j, lo, hi, text in conds.values()]
            )
            return
        j, f = n.feature, feats[n.feature]
        if f.kind == "is":  # indicators of one label column stay separate conditions
            key = (j, n.threshold)
            walk(n.left, {**conds, key: (j, 0, 0, f.describe(n.threshold, True))})
            walk(n.right, {**conds, key: (j, 0, 0, f.describe(n.threshold, False))})
            return
        _, lo, hi, _ = conds.get(j, (j, -np.inf, np.inf, ""))
        walk(n.left, {**conds, j: (j, lo, min(hi, n.threshold), "")})
        walk(n.right, {**conds, j: (j, max(lo, n.threshold), hi, "")})

    walk(node, {})
    return paths


def _range_words(f: _Feature, lo: float, hi: float) -> str:
    """lo < x <= hi in words (lo, hi infinite when open)."""
    if f.kind == "ordered":
        codes = [k for k in range(len(f.labels)) if lo < k <= hi]
        names = [str(f.labels[k]) for k in codes]
        return (
            f"{f.column} is {names[0]} to {names[-1]}"
            if len(names) > 2
            else f"{f.column} is {' or '.join(names)}"
        )
    if np.isinf(lo):
        return f.describe(hi, True)
    if np.isinf(hi):
        return f.describe(lo, False)
    return f"{lo:g} < {f.column} <= {hi:g}"


# --------------------------------------------------------------------------------------------
# capacities: arms per leaf as shares, by linear programming


def _allocate(
    leaf_of: np.ndarray,
    n_leaves: int,
    R: np.ndarray,
    s: np.ndarray,
    capacities: np.ndarray,
    tree_arms: np.ndarray,
) -> np.ndarray:
    """Share of each leaf given each arm (L x K): the tree's arms when capacities allow, else the
    allocation with the largest total reward within them (a leaf may be split between arms)."""
    K = R.shape[1]
    A = np.zeros((n_leaves, K))
    A[np.arange(n_leaves), tree_arms] = 1.0
    size = np.bincount(leaf_of, weights=s, minlength=n_leaves)
    total = size.sum()
    if np.all(A.T @ size <= capacities * total + 1e-9):
        return A
    allowed = R.min(axis=0) > -1e290  # arms the rule may give (see candidate_arms)
    gain = np.zeros((n_leaves, K))
    for k in np.flatnonzero(allowed):
        gain[:, k] = np.bincount(leaf_of, weights=s * R[:, k], minlength=n_leaves)
    # variables x[l, k] = share of leaf l given arm k; maximise sum gain * x
    c = -gain.ravel() / total
    A_eq = np.kron(np.eye(n_leaves), np.ones((1, K)))
    A_ub = np.kron(size[None, :], np.eye(K)) / total  # K rows: sum_l size_l x[l, k] / total
    finite = np.isfinite(capacities)
    bounds = [(0, 1 if ok else 0) for ok in np.tile(allowed, n_leaves)]
    res = optimize.linprog(
        c,
        A_ub=A_ub[finite],
        b_ub=capacities[finite],
        A_eq=A_eq,
        b_eq=np.ones(n_leaves),
        bounds=bounds,
        method="highs",
    )
    if res.status != 0:
        raise ValueError(f"no assignment meets the capacities: {res.message}")
    out = res.x.reshape(n_leaves, K)
    out[out < 1e-12] = 0.0
    return out / out.sum(axis=1, keepdims=True)


# --------------------------------------------------------------------------------------------
# cross-fitted doubly robust scores


def _predict_probabilities(Z: np.ndarray, theta: np.ndarray, J: np.ndarray, K: int) -> np.ndarray:
    coefT = np.zeros((K, Z.shape[1]))
    coefT[J] = theta.reshape(len(J), Z.shape[1])
    E = Z @ coefT.T
    E -= E.max(axis=1, keepdims=True)
    np.exp(E, out=E)
    return E / E.sum(axis=1, keepdims=True)


@dataclass
class _Folds:
    fold: np.ndarray  # fold of every row
    P: np.ndarray  # out-of-fold propensity scores, n x K
    converged: bool
    n_clipped: int = 0  # rows whose own arm's score was raised to the floor


def _fit_propensities(sample, K: int, folds: int, seed: int) -> _Folds:
    units = sample.cl if sample.cl is not None else np.arange(sample.n)
    n_units = int(units[-1]) + 1 if sample.cl is not None else sample.n
    if n_units < folds:
        raise ValueError(f"{n_units} units cannot be split into {folds} folds")
    fold = (np.random.default_rng(seed).permutation(n_units) % folds)[units]
    P = np.empty((sample.n, K))
    start, start_ref, converged = None, None, True
    for f in range(folds):
        train = fold != f
        sub = sample.subset(train)
        missing = [k for k in range(K) if not (sub.D == k).any()]
        if missing:
            raise ValueError(
                f"fold {f}: the other folds hold no row of arm(s) {missing}; use fewer folds"
            )
        ref = int(np.argmax(np.bincount(sub.D, minlength=K)))
        gps = _GPS(sub, K, ref)
        gps.fit(start=start if ref == start_ref else None, decrement_tol=_FOLD_DECREMENT_TOL)
        if sub.n > 2 * _HESSIAN_ROWS:
            gps.finish()
        converged &= gps.converged
        start, start_ref = gps.theta, ref
        P[~train] = _predict_probabilities(sample.Z[~train], gps.theta, gps.J, K)
    # out of fold, an overfitted logit can put a score near 0 where the arm is rare: 1/p would then
    # let one row decide the rule. Scores are kept above a fraction of the arm's share (counted).
    share = np.bincount(sample.D, weights=sample.s, minlength=K) / sample.s.sum()
    floor = PROPENSITY_FLOOR * share
    clipped = P < floor[None, :]
    P = np.maximum(P, floor[None, :])
    return _Folds(fold, P, bool(converged), int(clipped[np.arange(sample.n), sample.D].sum()))


def _scores(y: np.ndarray, sample, K: int, folds: _Folds) -> tuple[np.ndarray, np.ndarray]:
    """Gamma (n x K) and the out-of-fold fitted outcome of every row's own arm.

    The inverse-probability weights of an arm are normalised within each fold to average one
    (Hajek), as in the multi-valued estimator: out of fold, a logit with many covariates and a rare
    arm gives weights that add up to well over the fold's size, and unnormalised scores then carry
    that excess as noise (and, under no effect, a downward drift)."""
    n, Z, D, s = sample.n, sample.Z, sample.D, sample.s
    M = np.empty((n, K))
    ar = np.arange(n)
    inv = np.zeros(n)
    for f in np.unique(folds.fold):
        test = folds.fold == f
        for k in range(K):
            tr = ~test & (D == k)
            if (
                not tr.any()
            ):  # no row of this arm to learn from (an outcome seen on few rows): no score
                M[test, k] = np.nan
                continue
            beta, _ = _wls(Z[tr], y[tr], s[tr], int(tr.sum()))
            M[test, k] = Z[test] @ beta
            own = test & (D == k)
            w = 1.0 / folds.P[own, k]
            inv[own] = w * s[test].sum() / (s[own] * w).sum()
    G = M.copy()
    G[ar, D] += (y - M[ar, D]) * inv
    return G, M[ar, D]


# --------------------------------------------------------------------------------------------
# the result


@dataclass(repr=False)
class AssignmentPolicy:
    """A learned assignment rule, its out-of-sample value and what it gains over other assignments."""

    outcome: str
    treatment: str
    arms: list
    features: list[str]
    depth: int
    folds: int
    capacities: dict
    costs: dict
    holdout: float
    tree: _Node
    allocation: np.ndarray  # leaves x arms: share of each leaf given each arm
    method: str
    diagnostics: dict
    _feats: list[_Feature] = field(default_factory=list)
    _G: np.ndarray = None  # cross-fitted scores n x K (rows in the sample's cluster order)
    _y: np.ndarray = None
    _s: np.ndarray = None
    _cl: np.ndarray | None = None
    _D: np.ndarray = None
    _given: np.ndarray = None  # the rule's arm shares for every row, n x K
    _best: int = 0  # the arm best on average in the learning part
    _leaf: np.ndarray = None  # leaf of every row
    _held: np.ndarray = None  # rows of the persons held out to value the rule
    _P: np.ndarray = None
    _resid: np.ndarray = None  # y - m_D(x), out of fold
    _sample: object = None  # the estimation sample (for scores of another outcome)
    _fold: np.ndarray = None
    _folds: object = None  # the cross-fitted propensity scores (_Folds)
    _settings: object = None  # how the rule was learned (_Settings)

    # ---- assignment

    def _matrix(self, df: pd.DataFrame) -> np.ndarray:
        V.check_dataframe(df)
        V.check_columns(df, self.features)
        feats = _encode_features(df, self.features)
        names = [(f.column, f.kind, f.labels) for f in feats]
        lookup = {(f.column, f.kind, f.labels): f.values for f in feats}
        X = np.empty((len(df), len(self._feats)))
        for j, f in enumerate(self._feats):
            key = (f.column, f.kind, f.labels)
            if key in lookup:
                X[:, j] = lookup[key]
            elif f.kind == "is":  # a value absent from df: nobody has it
                X[:, j] = 0.0
            else:
                raise ValueError(
                    f"feature '{f.column}' is coded differently than when the rule was learned: "
                    f"{[n for n in names if n[0] == f.column]}"
                )
        return X

    def assignment_probabilities(self, df: pd.DataFrame) -> pd.DataFrame:
        """Share of each arm the rule gives each row (0/1 without capacities)."""
        leaf, _ = _leaf_index(self.tree, self._matrix(df))
        return pd.DataFrame(self.allocation[leaf], index=df.index, columns=self.arms)

    def assign(self, df: pd.DataFrame, seed: int = 0) -> pd.Series:
        """The arm the rule gives each row; where capacities split a leaf, drawn with the leaf's shares."""
        prob = self.assignment_probabilities(df).to_numpy()
        if np.all((prob == 0) | (prob == 1)):
            k = prob.argmax(axis=1)
        else:
            u = np.random.default_rng(seed).random(len(prob))
            k = np.minimum((prob.cumsum(axis=1) < u[:, None]).sum(axis=1), prob.shape[1] - 1)
        return pd.Series(
            np.asarray(self.arms, dtype=object)[k], index=df.index, name=self.treatment
        )

    # ---- value and gains

    def _result(
        self,
        values: np.ndarray,
        estimand: str,
        riesz: np.ndarray | None,
        rows: np.ndarray | None = None,
    ) -> EffectResult:
        """Weighted mean of `values` over `rows` (default all) with its influence-function SE."""
        rows = np.ones(len(self._s), dtype=bool) if rows is None else rows
        s, v, D = self._s[rows], values[rows], self._D[rows]
        cl = None if self._cl is None else np.unique(self._cl[rows], return_inverse=True)[1]
        est = float(np.sum(s * v) / np.sum(s))
        se, g = if_std_error(s * (v - est) / s.mean(), cl)
        dfi = None if g is None else g - 1
        lo, hi, p = interval(est, se, dfi)
        diag = {}
        if riesz is not None:
            scale = omitted_variable_scale(
                float(np.average(self._resid[rows] ** 2, weights=s)),
                float(np.average(riesz[rows] ** 2, weights=s)),
            )
            diag = {
                "sensitivity_scale": scale,
                "robustness_value": robustness_value(est, scale),
                "robustness_value_95": robustness_value(est, scale, se, level=0.95),
            }
        if "rule" in estimand or "gain" in estimand:
            assigned = self._given[rows].T @ s / s.sum()
            diag["assigned_share"] = dict(zip(map(str, self.arms), np.round(assigned, 6).tolist()))
        n_arm = np.bincount(D, minlength=len(self.arms))
        return EffectResult(
            estimate=est,
            std_error=se,
            ci_low=lo,
            ci_high=hi,
            p_value=p,
            n_treated=int(n_arm.sum() - n_arm.max()),
            n_control=int(n_arm.max()),
            n_obs=int(rows.sum()),
            n_units=g,
            df_resid=dfi,
            method=self.method,
            estimand=estimand,
            outcome=self.outcome,
            diagnostics=diag,
        )

    def _rule_riesz(self) -> np.ndarray:
        ar = np.arange(len(self._D))
        return self._given[ar, self._D] / self._P[ar, self._D]

    @property
    def value(self) -> EffectResult:
        """Mean outcome if everyone followed the rule, on the persons held out from learning it."""
        return self._result(
            (self._given * self._G).sum(axis=1), "value of the assignment rule", None, self._held
        )

    @property
    def observed_value(self) -> EffectResult:
        """Mean outcome under today's assignment (the arms people actually got), on the same persons."""
        return self._result(self._y, "value of the observed assignment", None, self._held)

    @property
    def best_arm(self):
        """The arm with the highest mean outcome where the rule was learned ("best" in gain_over)."""
        return self.arms[self._best]

    def gain_over(self, baseline) -> EffectResult:
        """The rule against: "observed" (today's assignment), "best" (everyone the one arm that is best
        on average where the rule was learned) or an arm label (everyone that arm); on the
        held-out persons."""
        rule = (self._given * self._G).sum(axis=1)
        riesz = self._rule_riesz()
        if baseline == OBSERVED:
            return self._result(
                rule - self._y, "gain over the observed assignment", riesz - 1.0, self._held
            )
        if baseline == BEST_SINGLE:
            b = self._best
            return self._result(
                rule - self._G[:, b],
                f"gain over everyone the single best arm ({self.arms[b]})",
                riesz - (self._D == b) / self._P[:, b],
                self._held,
            )
        if baseline not in self.arms:
            raise ValueError(
                f"baseline must be {OBSERVED!r}, {BEST_SINGLE!r} or one of the arms {self.arms}, "
                f"got {baseline!r}"
            )
        k = self.arms.index(baseline)
        return self._result(
            rule - self._G[:, k],
            f"gain over everyone {baseline}",
            riesz - (self._D == k) / self._P[:, k],
            self._held,
        )

    def contrast(self, a, b) -> EffectResult:
        """Everyone arm a against everyone arm b (cross-fitted doubly robust, every row), with the
        robustness value of Chernozhukov et al. (2022) for a confounder missing from the covariates."""
        for arm in (a, b):
            if arm not in self.arms:
                raise ValueError(f"{arm!r} is not one of the arms {self.arms}")
        ka, kb = self.arms.index(a), self.arms.index(b)
        riesz = (self._D == ka) / self._P[:, ka] - (self._D == kb) / self._P[:, kb]
        return self._result(self._G[:, ka] - self._G[:, kb], f"APO({a}) - APO({b})", riesz)

    def arm_values(self) -> pd.DataFrame:
        """Mean outcome if everyone got each arm (cross-fitted doubly robust, no rule)."""
        rows = []
        for k, a in enumerate(self.arms):
            r = self._result(self._G[:, k], f"everyone {a}", None)
            rows.append(
                {
                    "arm": a,
                    "estimate": r.estimate,
                    "std_error": r.std_error,
                    "ci_low": r.ci_low,
                    "ci_high": r.ci_high,
                    "n_obs": int((self._D == k).sum()),
                }
            )
        return pd.DataFrame(rows).set_index("arm")

    # ---- the rule

    @property
    def rules(self) -> pd.DataFrame:
        """One row per leaf: its conditions in words, the arm (or shares), its size, and the expected
        outcome of every arm in the leaf (mean cross-fitted score) with the rows that took it."""
        leaves = len(self.allocation)
        paths = _leaf_paths(self.tree, self._feats)
        s, G, D, cl = self._s, self._G, self._D, self._cl
        held_total = s[self._held].sum()
        rows = []
        for leaf in range(leaves):
            m = (self._leaf == leaf) & self._held
            w = s[m]
            alloc = self.allocation[leaf]
            row = {
                "leaf": leaf + 1,
                "rule": " and ".join(paths[leaf]) or "everyone",
                "arm": self.arms[int(np.argmax(alloc))],
                "shares": ", ".join(
                    f"{self.arms[k]} {alloc[k]:.0%}" for k in np.flatnonzero(alloc > 0)
                ),
                "population_share": float(w.sum() / held_total),
                "n_obs": int(m.sum()),
                "n_units": int(len(np.unique(cl[m]))) if cl is not None else int(m.sum()),
            }
            units = None if cl is None else np.unique(cl[m], return_inverse=True)[1]
            for k, a in enumerate(self.arms):
                est = float(np.average(G[m, k], weights=w)) if m.any() else np.nan
                se = if_std_error(w * (G[m, k] - est) / w.mean(), units)[0] if m.any() else np.nan
                took = m & (D == k)
                row[f"expected_{a}"], row[f"std_error_{a}"] = est, se
                row[f"n_obs_{a}"] = int(took.sum())
                row[f"n_units_{a}"] = (
                    int(len(np.unique(cl[took]))) if cl is not None else int(took.sum())
                )
            rows.append(row)
        return pd.DataFrame(rows)

    def rules_in_words(self) -> str:
        lines = []
        for _, r in self.rules.iterrows():
            given = r["shares"] if "," in r["shares"] else r["arm"]
            lines.append(
                f"- {r['rule'][0].upper() + r['rule'][1:]}: {given} (expected {self.outcome} under "
                f"{r['arm']}: {r['expected_' + str(r['arm'])]:.3f})"
            )
        return "\n".join(lines)

    def summary(self) -> str:
        v = self.value
        lines = [
            f"Assignment rule for '{self.outcome}' over arms of '{self.treatment}' (depth {self.depth})",
            f"Method: {self.method}",
            "-" * 72,
            self.rules_in_words(),
            f"Value (out of sample): {v.estimate:.4f} (SE {v.std_error:.4f}, 95% CI {v.ci_low:.4f} to "
            f"{v.ci_high:.4f})",
        ]
        for b in (OBSERVED, BEST_SINGLE):
            g = self.gain_over(b)
            lines.append(
                f"Gain over {b}: {g.estimate:.4f} (SE {g.std_error:.4f}, 95% CI {g.ci_low:.4f} to "
                f"{g.ci_high:.4f}, p {g.p_value:.3f})"
            )
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()

    def __repr__(self) -> str:
        return (
            f"AssignmentPolicy(outcome={self.outcome!r}, leaves={len(self.allocation)}, "
            f"n_obs={len(self._s)})"
        )

    # ---- another outcome on the same propensity scores

    def for_outcome(self, df: pd.DataFrame, outcome: str) -> AssignmentPolicy:
        """The same learning (features, arms, settings, folds, propensity scores and held-out persons)
        for another outcome column of df, the frame this rule was learned on: no second propensity fit."""
        if len(df) != len(self._s):
            raise ValueError("for_outcome needs the DataFrame the rule was learned on")
        V.check_columns(df, [outcome])
        y = V.numeric_column(df, outcome)[self._sample.rows]
        V.check_finite({outcome: y}, len(y))
        return _learn_rule(replace(self._settings, outcome=outcome), self._sample, self._folds, y)

    def placebo(self, df: pd.DataFrame, outcome: str, reference=None) -> pd.DataFrame:
        """Each arm against `reference`, and the rule's gain over the observed assignment, on an outcome
        measured before the choice: with no hidden selection, all are zero up to noise.

        df must be the frame the rule was learned on (same rows and order); rows where `outcome` is
        missing are left out. Same folds and propensity scores as the rule's own outcome."""
        if len(df) != len(self._s):
            raise ValueError("placebo needs the DataFrame the rule was learned on")
        V.check_columns(df, [outcome])
        y = V.numeric_column(df, outcome)[self._sample.rows]
        keep = ~np.isnan(y)
        ref = (
            self.arms.index(reference)
            if reference is not None
            else int(np.argmax(np.bincount(self._D)))
        )
        G = np.full_like(self._G, np.nan)
        resid = np.full(len(y), np.nan)
        if keep.any():
            G[keep], resid[keep] = _scores(
                y[keep],
                self._sample.subset(keep),
                len(self.arms),
                _Folds(self._fold[keep], self._P[keep], True),
            )
            resid[keep] = y[keep] - resid[keep]
        other = replace(self, _G=G, _y=y, _resid=resid)
        rows = []
        for k, a in enumerate(self.arms):
            if k != ref:
                rows.append(
                    (
                        f"{a} vs {self.arms[ref]}",
                        other._result(G[:, k] - G[:, ref], "placebo", None, keep),
                    )
                )
        rule = (self._given * G).sum(axis=1)
        rows.append(
            (
                "rule vs observed assignment",
                other._result(rule - y, "placebo", None, keep & self._held),
            )
        )
        return pd.DataFrame(
            [
                {
                    "comparison": c,
                    "estimate": r.estimate,
                    "std_error": r.std_error,
                    "ci_low": r.ci_low,
                    "ci_high": r.ci_high,
                    "p_value": r.p_value,
                    "n_obs": r.n_obs,
                }
                for c, r in rows
            ]
        )


# --------------------------------------------------------------------------------------------
# entry point


def _as_vector(spec: Mapping | None, arms: list, default: float, what: str) -> np.ndarray:
    out = np.full(len(arms), default, dtype=float)
    for a, v in (spec or {}).items():
        if a not in arms:
            raise ValueError(f"{what} name an arm that is not in the data: {a!r} (arms: {arms})")
        out[arms.index(a)] = float(v)
    return out


def learn_assignment_policy(
    df: pd.DataFrame,
    outcome: str,
    treatment: str,
    covariates: Sequence[str],
    features: Sequence[str],
    *,
    depth: int = 2,
    capacities: Mapping | None = None,
    costs: Mapping | None = None,
    folds: int = 5,
    cluster: str | None = None,
    weights: str | None = None,
    min_node_size: int | None = None,
    candidate_arms: Sequence | None = None,
    holdout: float = 0.5,
    seed: int = 0,
) -> AssignmentPolicy:
    """Learn a depth-`depth` assignment rule over `features` that maximises mean `outcome`.

    covariates: the confounders (propensity and outcome models); features: what the rule may split on
    (numbers split at x <= t, ordered categoricals by their order, other labels as "is v").
    capacities: {arm: largest share of the population it can take}; a leaf may then be split
    between arms. costs: {arm: cost in units of the outcome}, subtracted from the scores when the
    rule is learned (values and gains are reported without them). holdout: share of the persons
    (clusters) held out: the rule is learned on the others and valued on them. min_node_size: rows
    per leaf (default 5% of the learning rows). candidate_arms: the arms the rule may give
    (default all; the others
    still count in the propensity model and in today's assignment). weights: sampling weights;
    cluster: unit id (folds and SEs).
    """
    depth = int(depth)
    if not 1 <= depth <= 3:
        raise ValueError(f"depth must be 1, 2 or 3 (a rule a caseworker can follow), got {depth}")
    folds = int(folds)
    if folds < 2:
        raise ValueError(f"folds must be at least 2, got {folds}")
    features = V.as_list(features)
    if not features:
        raise ValueError("features must name at least one column")
    V.check_columns(df, features)
    sample, arms, ys, _ = _prepare(
        df, [outcome], treatment, covariates, cluster, weights, None, allow_missing=False
    )
    K = len(arms)
    cap = _as_vector(capacities, arms, np.inf, "capacities")
    if np.any(cap < 0):
        raise ValueError("capacities are shares of the population: they cannot be negative")
    if np.all(np.isfinite(cap)) and cap.sum() < 1 - 1e-9:
        raise ValueError(
            f"the capacities add up to {cap.sum():.3f} < 1: not everyone can be given an arm"
        )
    cost = _as_vector(costs, arms, 0.0, "costs")
    if candidate_arms is not None:
        unknown = [a for a in candidate_arms if a not in arms]
        if unknown or not len(candidate_arms):
            raise ValueError(
                f"candidate_arms must be a non-empty subset of the arms {arms}, "
                f"got {list(candidate_arms)}"
            )
        cost[[k for k, a in enumerate(arms) if a not in candidate_arms]] = np.inf  # never given
    y = ys[outcome][sample.rows]
    feats = _encode_features(df, features)
    X = np.column_stack([f.values for f in feats])[sample.rows]
    holdout = float(holdout)
    if not 0 < holdout < 1:
        raise ValueError(
            f"holdout is the share of persons the rule is valued on: 0 < holdout < 1, got {holdout}"
        )
    min_node = (
        int(min_node_size)
        if min_node_size is not None
        else max(1, int(0.05 * (1 - holdout) * sample.n))
    )

    fits = _fit_propensities(sample, K, folds, seed)
    return _learn_rule(
        _Settings(
            outcome,
            treatment,
            arms,
            features,
            feats,
            X,
            depth,
            folds,
            cap,
            cost,
            min_node,
            holdout,
            seed,
        ),
        sample,
        fits,
        y,
    )


@dataclass(frozen=True)
class _Settings:
    """What a rule is learned with, besides the outcome: kept so that another outcome can reuse it."""

    outcome: str
    treatment: str
    arms: list
    features: list
    feats: list
    X: np.ndarray
    depth: int
    folds: int
    cap: np.ndarray
    cost: np.ndarray
    min_node: int
    holdout: float
    seed: int


def _learn_rule(st: _Settings, sample, fits: _Folds, y: np.ndarray) -> AssignmentPolicy:
    K, s, X, cost, cap, depth, holdout = (
        len(st.arms),
        sample.s,
        st.X,
        st.cost,
        st.cap,
        st.depth,
        st.holdout,
    )
    G, own_fit = _scores(y, sample, K, fits)
    R = G - np.where(np.isinf(cost), 0.0, cost)[None, :]
    R[:, np.isinf(cost)] = -1e300 / max(sample.n, 1)  # an arm the rule may not give

    def learn(rows: np.ndarray) -> tuple[_Node, np.ndarray, np.ndarray]:
        tree = policy_tree(X[rows], R[rows], depth, st.min_node, weights=s[rows])
        leaf, leaves = _leaf_index(tree, X[rows])
        alloc = _allocate(
            leaf, len(leaves), R[rows], s[rows], cap, np.array([lf.arm for lf in leaves])
        )
        return tree, alloc, leaf

    units = sample.cl if sample.cl is not None else np.arange(sample.n)
    held = (np.random.default_rng([st.seed, 1]).random(int(units.max()) + 1) < holdout)[units]
    if held.all() or not held.any():
        raise ValueError(
            f"holdout {holdout} leaves no person to {'learn' if held.all() else 'value'} the rule"
        )
    tree, allocation, _ = learn(~held)
    leaf, _ = _leaf_index(tree, X)
    best = int(np.argmax(np.average(R[~held], axis=0, weights=s[~held])))
    ar = np.arange(sample.n)
    P = fits.P
    where = "by cluster" if sample.cl is not None else "by row"
    method = (
        f"exact depth-{depth} policy tree (policytree's search) on doubly robust scores cross-fitted in "
        f"{st.folds} folds {where} (multinomial-logit propensity, least squares per arm), learned on "
        f"{1 - holdout:.0%} of the {'units' if sample.cl is not None else 'rows'} and valued on the other "
        f"{holdout:.0%}; influence-function SEs{', clustered' if sample.cl is not None else ''}"
    )
    diagnostics = {
        "rows_learning": int((~held).sum()),
        "rows_valuing": int(held.sum()),
        "propensity_min": float(P[ar, sample.D].min()),
        "propensity_converged": fits.converged,
        "propensity_floor_rows": fits.n_clipped,
        "largest_weight_share": float((s / P[ar, sample.D]).max() / (s / P[ar, sample.D]).sum()),
        "min_node_size": st.min_node,
    }
    return AssignmentPolicy(
        outcome=st.outcome,
        treatment=st.treatment,
        arms=st.arms,
        features=st.features,
        depth=depth,
        folds=st.folds,
        capacities={a: float(c) for a, c in zip(st.arms, cap) if np.isfinite(c)},
        costs={a: float(c) for a, c in zip(st.arms, cost) if c and np.isfinite(c)},
        holdout=holdout,
        tree=tree,
        allocation=allocation,
        method=method,
        diagnostics=diagnostics,
        _feats=st.feats,
        _G=G,
        _y=y,
        _s=s,
        _cl=sample.cl,
        _D=sample.D,
        _given=allocation[leaf],
        _best=best,
        _leaf=leaf,
        _held=held,
        _P=P,
        _resid=y - own_fit,
        _sample=sample,
        _fold=fits.fold,
        _folds=fits,
        _settings=st,
    )
