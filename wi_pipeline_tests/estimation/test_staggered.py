"""Staggered DiD (Callaway & Sant'Anna) against published results of the authors' R package `did` on
its example data, and recovery of planted effects and of a planted parallel-trend violation.

mpdta (data/mpdta.rda of github.com/bcallaway11/did, 500 counties 2003-2007) is converted to CSV in
data/mpdta.csv. Reference numbers, all with analytic standard errors (bstrap = FALSE):
- R did, as published in the parity files of the Python port csdid (d2cml-ai/csdid,
  csdid/test_csdid/r_ref/ref_attgt.csv, ref_aggte.csv, ref_pretest.csv; generate_reference.R):
  est_method "dr" without covariates with never-treated and not-yet-treated controls, and "reg" with
  xformla = ~lpop;
- the doubly robust estimator with lpop (did's default est_method "dr" = DRDID::drdid_panel) as
  published for the Stata port csdid by its author (friosavila/playingwithstata, drdid/csdid_stata.md:
  method(dripw), said there to reproduce did's point estimates, with analytic SEs): 7 significant
  digits, so estimates to 1e-6 and SEs to 0.2%.
The did README's own table (est_method "reg", no covariates) gives the same point estimates with
bootstrap standard errors.
"""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from wi_pipeline.estimation import StaggeredDiDResult, estimate_staggered_did
from wi_pipeline_tests.helpers import staggered_panel

MPDTA = Path(__file__).parent / "data" / "mpdta.csv"
KW = dict(outcome="lemp", unit="countyreal", time="year", cohort="first.treat")

# (cohort, time): (att, se) from R did 2.x, bstrap = FALSE
R_ATTGT = {
    "never_dr": {
        (2004, 2004): (-0.0105032462209624, 0.0232510363681664),
        (2004, 2005): (-0.0704231581031467, 0.0309847667572767),
        (2004, 2006): (-0.137258738889403, 0.0364356642876865),
        (2004, 2007): (-0.100811363085404, 0.0343592258346732),
        (2006, 2004): (0.00652011242423301, 0.0233268051418047),
        (2006, 2005): (-0.00275081875051882, 0.0195585610358817),
        (2006, 2006): (-0.00459460695286304, 0.0177551966592763),
        (2006, 2007): (-0.0412244715462175, 0.0202291807041068),
        (2007, 2004): (0.0305066555832928, 0.01503356028013),
        (2007, 2005): (-0.00272589288611625, 0.0163958328955344),
        (2007, 2006): (-0.0310871193896889, 0.0178775113133435),
        (2007, 2007): (-0.0260544107191966, 0.0166554353492522),
    },
    "notyet_dr": {
        (2004, 2004): (-0.0193723636759221, 0.0223101128836806),
        (2004, 2005): (-0.0783190990620607, 0.0303902285433973),
        (2004, 2006): (-0.136274346328678, 0.03540338496891),
        (2004, 2007): (-0.100811363085404, 0.0343592258346732),
        (2006, 2004): (-0.00256255094261098, 0.0225302351453388),
        (2006, 2005): (-0.00193924609578875, 0.019042158605819),
        (2006, 2006): (0.00466087631997615, 0.0163355842468236),
        (2006, 2007): (-0.0412244715462175, 0.0202291807041068),
        (2007, 2004): (0.0297593647610311, 0.0145335416386514),
        (2007, 2005): (-0.0024106128000969, 0.0160312963755178),
        (2007, 2006): (-0.0310871193896889, 0.0178775113133435),
        (2007, 2007): (-0.0260544107191966, 0.0166554353492522),
    },
    "never_reg_lpop": {
        (2004, 2004): (-0.014911237790361, 0.0220556930763195),
        (2004, 2005): (-0.0769963229660512, 0.0283597455101496),
        (2004, 2006): (-0.141080104628588, 0.0348362869536185),
        (2004, 2007): (-0.107544274673046, 0.0327376926434119),
        (2006, 2004): (-0.0020660581184395, 0.022122286483578),
        (2006, 2005): (-0.00696828306727072, 0.0183457856293695),
        (2006, 2006): (0.000765525026395888, 0.0191959070328785),
        (2006, 2007): (-0.0415356365293253, 0.0197168736453729),
        (2007, 2004): (0.0263658317469803, 0.0140189493226751),
        (2007, 2005): (-0.00475983533866949, 0.0156699660373289),
        (2007, 2006): (-0.028502106413859, 0.0181320658924703),
        (2007, 2007): (-0.0287894881938243, 0.0161678672536918),
    },
    "never_dr_lpop": {  # Stata csdid method(dripw): 7 significant digits
        (2004, 2004): (-0.0145297, 0.0221292),
        (2004, 2005): (-0.0764219, 0.0286713),
        (2004, 2006): (-0.1404483, 0.0353782),
        (2004, 2007): (-0.1069039, 0.0328865),
        (2006, 2004): (-0.0004721, 0.0222234),
        (2006, 2005): (-0.0062025, 0.0184957),
        (2006, 2006): (0.0009606, 0.0194002),
        (2006, 2007): (-0.0412939, 0.0197211),
        (2007, 2004): (0.0267278, 0.0140657),
        (2007, 2005): (-0.0045766, 0.0157178),
        (2007, 2006): (-0.0284475, 0.0181809),
        (2007, 2007): (-0.0287814, 0.0162318),
    },
}
# aggte: type -> (overall att, overall se, {key: (att, se)})
R_AGGTE = {
    "never_dr": {
        "simple": (-0.0399512751551763, 0.0120340127701854, {}),
        "group": (
            -0.0310182822287484,
            0.0124460593209979,
            {
                2004: (-0.0797491265747291, 0.0263677994350273),
                2006: (-0.0229095392495403, 0.0167033302551619),
                2007: (-0.0260544107191966, 0.0166554353492522),
            },
        ),
        "dynamic": (
            -0.0772398214573151,
            0.0199649890618494,
            {
                -3: (0.0305066555832928, 0.01503356028013),
                -2: (-0.000563084626385429, 0.01329164473655),
                -1: (-0.0244587449711696, 0.0142364022105193),
                0: (-0.0199318167892593, 0.0118263640580582),
                1: (-0.0509573670651939, 0.016893476268678),
                2: (-0.137258738889403, 0.0364356642876865),
                3: (-0.100811363085404, 0.0343592258346733),
            },
        ),
        "calendar": (
            -0.0417004321312822,
            0.01597185188456,
            {
                2004: (-0.0105032462209624, 0.0232510363681664),
                2005: (-0.0704231581031467, 0.0309847667572767),
                2006: (-0.0488159842650431, 0.0201258612605003),
                2007: (-0.0370593399359766, 0.0137470791411185),
            },
        ),
    },
    "notyet_dr": {
        "simple": (-0.0397636256230437, 0.0120524247873419, {}),
        "group": (
            -0.030462228112565,
            0.0125751201316818,
            {
                2004: (-0.0836942930380162, 0.0257015997680069),
                2006: (-0.0182817976131207, 0.0159222358245001),
                2007: (-0.0260544107191966, 0.0166554353492522),
            },
        ),
        "dynamic": (
            -0.0773993139705847,
            0.0195601769463944,
            {
                -3: (0.0297593647610311, 0.0145335416386514),
                -2: (-0.00244615388606511, 0.0131203504342708),
                -1: (-0.0242689034145076, 0.0144636816758019),
                0: (-0.0189221990834249, 0.0120445686892691),
                1: (-0.0535893473848319, 0.016946385539125),
                2: (-0.136274346328678, 0.03540338496891),
                3: (-0.100811363085404, 0.0343592258346733),
            },
        ),
        "calendar": (
            -0.0442670834758837,
            0.0155709044211449,
            {
                2004: (-0.0193723636759221, 0.0223101128836806),
                2005: (-0.0783190990620607, 0.0303902285433972),
                2006: (-0.0423175312295752, 0.0190562576431668),
                2007: (-0.0370593399359766, 0.0137470791411185),
            },
        ),
    },
    "never_reg_lpop": {
        "simple": (-0.0419686124215432, 0.0114448297682151, {}),
        "group": (
            -0.0329292402290042,
            0.0118603087662617,
            {
                2004: (-0.0851329850145115, 0.0242512163971128),
                2006: (-0.0203850557514647, 0.0174025032538199),
                2007: (-0.0287894881938243, 0.0161678672536918),
            },
        ),
        "dynamic": (
            -0.0807817453337615,
            0.0187458547114755,
            {
                -3: (0.0263658317469803, 0.0140189493226751),
                -2: (-0.00412971201229991, 0.0129174707430671),
                -1: (-0.0234649547538384, 0.0144416499564523),
                0: (-0.0211467366918448, 0.0114810443929097),
                1: (-0.0533558653415673, 0.0162930738253423),
                2: (-0.141080104628588, 0.0348362869536185),
                3: (-0.107544274673046, 0.032737692643412),
            },
        ),
        "calendar": (
            -0.0445323313531745,
            0.0148850278130483,
            {
                2004: (-0.014911237790361, 0.0220556930763196),
                2005: (-0.0769963229660512, 0.0283597455101496),
                2006: (-0.0465163515252653, 0.020998373312028),
                2007: (-0.0397054131310205, 0.0128658596749845),
            },
        ),
    },
    "never_dr_lpop": {
        "simple": (-0.0417518, 0.0115028, {}),
        "group": (
            None,
            None,
            {
                2004: (-0.0845759, 0.0245649),
                2006: (-0.0201666, 0.0174696),
                2007: (-0.0287814, 0.016239),
            },
        ),
        "dynamic": (
            None,
            None,
            {
                -3: (0.0267278, 0.0140657),
                -2: (-0.0036165, 0.0129283),
                -1: (-0.023244, 0.0144851),
                0: (-0.0210604, 0.0114942),
                1: (-0.0530032, 0.0163465),
                2: (-0.1404483, 0.0353782),
                3: (-0.1069039, 0.0328865),
            },
        ),
        "calendar": (
            None,
            None,
            {
                2004: (-0.0145297, 0.0221292),
                2005: (-0.0764219, 0.0286713),
                2006: (-0.0461757, 0.0212107),
                2007: (-0.0395822, 0.0129299),
            },
        ),
    },
}
R_PRETEST = {
    "never_dr": (7.79123662720035, 0.16812),
    "notyet_dr": (7.79092771882739, 0.16814),
    "never_reg_lpop": (6.8612749537136, 0.23116),
    "never_dr_lpop": (6.84, 0.2327),
}
SETUPS = {
    "never_dr": dict(control_group="never_treated"),
    "notyet_dr": dict(control_group="not_yet_treated"),
    "never_reg_lpop": dict(control_group="never_treated", covariates=["lpop"], est_method="reg"),
    "never_dr_lpop": dict(control_group="never_treated", covariates=["lpop"]),
}


def tolerances(setup):
    # the Stata port prints 7 significant digits; R's values are exact
    return (1e-6, 2e-3) if setup == "never_dr_lpop" else (1e-8, 1e-6)


@pytest.fixture(scope="module")
def mpdta():
    return pd.read_csv(MPDTA)


@pytest.fixture(scope="module")
def fits(mpdta):
    return {name: estimate_staggered_did(mpdta, **KW, **kw) for name, kw in SETUPS.items()}


@pytest.mark.parametrize("setup", list(SETUPS))
def test_group_time_effects_match_did(fits, setup):
    r = fits[setup]
    assert isinstance(r, StaggeredDiDResult)
    gt = r.group_time.set_index(["cohort", "time"])
    atol, rtol = tolerances(setup)
    assert len(gt) == 12
    for (g, t), (att, se) in R_ATTGT[setup].items():
        assert gt.loc[(g, t), "estimate"] == pytest.approx(att, abs=atol), (g, t)
        assert gt.loc[(g, t), "std_error"] == pytest.approx(se, rel=rtol), (g, t)
    width = (gt["ci_high"] - gt["ci_low"]).to_numpy()
    assert width == pytest.approx(2 * 1.959964 * gt["std_error"].to_numpy(), rel=1e-6)
    assert (gt["n_treated"] > 0).all() and (gt["n_control"] > 0).all()


@pytest.mark.parametrize("setup", list(SETUPS))
@pytest.mark.parametrize("kind", ["simple", "group", "dynamic", "calendar"])
def test_aggregations_match_aggte(fits, setup, kind):
    atol, rtol = tolerances(setup)
    overall, overall_se, rows = R_AGGTE[setup][kind]
    a = fits[setup].aggregate(kind)
    if overall is not None:
        assert a.overall.estimate == pytest.approx(overall, abs=atol)
        assert a.overall.std_error == pytest.approx(overall_se, rel=rtol)
        assert a.overall.ci_low < a.overall.estimate < a.overall.ci_high
    assert list(a.table.index) == list(rows)
    for key, (att, se) in rows.items():
        assert a.table.loc[key, "estimate"] == pytest.approx(att, abs=atol), key
        assert a.table.loc[key, "std_error"] == pytest.approx(se, rel=rtol), key
    if len(rows):  # the covariance's diagonal is the squared standard errors
        assert np.diag(a.vcov.to_numpy()) == pytest.approx(
            a.table["std_error"].to_numpy() ** 2, rel=1e-9
        )


@pytest.mark.parametrize("setup", list(SETUPS))
def test_pretest_matches_did(fits, setup):
    w, p = R_PRETEST[setup]
    t = fits[setup].pretrend_test
    assert t.df == 5
    assert t.statistic == pytest.approx(w, abs=5e-3 if setup == "never_dr_lpop" else 1e-6)
    assert t.p_value == pytest.approx(p, abs=1e-4 if setup == "never_dr_lpop" else 1e-5)


def test_universal_base_period(mpdta, fits):
    """Post-treatment cells do not depend on the base period; a universal pre-period cell is minus the
    sum of the varying ones between it and g - 1, and the reference cell is 0 without a standard error."""
    u = estimate_staggered_did(mpdta, **KW, base_period="universal")
    v = fits["never_dr"].group_time.set_index(["cohort", "time"])["estimate"]
    ug = u.group_time.set_index(["cohort", "time"])
    assert len(ug) == 15
    for g in (2004, 2006, 2007):
        for t in range(2004, 2008):
            if t >= g:
                assert ug.loc[(g, t), "estimate"] == pytest.approx(v[(g, t)], abs=1e-12)
            elif t < g - 1:
                between = -sum(v[(g, s)] for s in range(t + 1, g))
                assert ug.loc[(g, t), "estimate"] == pytest.approx(between, abs=1e-12)
        assert ug.loc[(g, g - 1), "estimate"] == 0 and np.isnan(ug.loc[(g, g - 1), "std_error"])
    dyn = u.aggregate("dynamic")
    assert dyn.table.loc[-1, "estimate"] == 0 and np.isnan(dyn.table.loc[-1, "std_error"])
    beta, sigma, n_pre, n_post = dyn.event_time_inputs()
    assert (
        (n_pre, n_post) == (3, 4)
        and sigma.shape == (7, 7)
        and np.all(np.linalg.eigvalsh(sigma) > 0)
    )


def test_event_window_and_clusters(mpdta, fits):
    """A window computes only its cells (the aggregations then match aggte's min_e/max_e); clustering by
    unit is the default, and a coarser cluster widens the interval."""
    w = estimate_staggered_did(mpdta, **KW, event_window=(-1, 1))
    assert set(w.group_time["event_time"]) == {-1, 0, 1}
    full = fits["never_dr"].group_time.set_index(["cohort", "time"])
    for row in w.group_time.itertuples():
        assert row.estimate == pytest.approx(
            full.loc[(row.cohort, row.time), "estimate"], abs=1e-12
        )
    dyn = w.aggregate("dynamic")
    assert list(dyn.table.index) == [-1, 0, 1]
    # aggte(..., min_e = -1, max_e = 1)'s overall is the mean of e = 0 and e = 1
    e0_e1 = np.mean([-0.0199318167892593, -0.0509573670651939])
    assert dyn.overall.estimate == pytest.approx(e0_e1, abs=1e-10)
    df = mpdta.assign(state=mpdta["countyreal"] // 1000)
    c = estimate_staggered_did(df, **KW, cluster="state")
    same = (
        estimate_staggered_did(df, **KW, cluster="countyreal").aggregate("simple").overall.std_error
    )
    assert same == pytest.approx(fits["never_dr"].aggregate("simple").overall.std_error, rel=1e-12)
    assert c.aggregate("simple").overall.estimate == pytest.approx(-0.0399512751551763, abs=1e-10)
    assert c.aggregate("simple").overall.diagnostics["n_clusters"] == df["state"].nunique()
    assert c.aggregate("simple").overall.std_error != pytest.approx(same, rel=1e-3)


def test_bad_input_is_refused(mpdta):
    with pytest.raises(ValueError, match="one row per unit and period"):
        estimate_staggered_did(pd.concat([mpdta, mpdta.head(1)]), **KW)
    shifted = mpdta.copy()
    shifted.loc[0, "first.treat"] = 2006
    with pytest.raises(ValueError, match="constant within"):
        estimate_staggered_did(shifted, **KW)
    with pytest.raises(ValueError, match="never-treated"):
        estimate_staggered_did(mpdta[mpdta["first.treat"] > 0], **KW)
    with pytest.raises(ValueError, match="control_group"):
        estimate_staggered_did(mpdta, **KW, control_group="everyone")
    with pytest.raises(ValueError, match="unknown aggregation"):
        estimate_staggered_did(mpdta, **KW).aggregate("eventstudy")


# ---------------------------------------------------------------------------------------------
# Synthetic staggered adoption


def truth(df, kind, effect=(0.5, 0.25)):
    """The population value of the aggregation for the cohort shares of this sample."""
    g = df.drop_duplicates("id")["g"].to_numpy()
    t_max = df["t"].max()
    cells = [(c, t) for c in (4, 5, 6, 7) for t in range(c, t_max + 1)]
    share = {c: np.mean(g == c) for c in (4, 5, 6, 7)}
    att = {(c, t): effect[0] + effect[1] * (t - c) for c, t in cells}
    if kind == "simple":
        w = np.array([share[c] for c, _ in cells])
        return float(np.array([att[k] for k in cells]) @ w / w.sum())
    return float(
        np.mean([effect[0] + effect[1] * e for e in range(0, t_max - 4 + 1)])
    )  # dynamic overall


@pytest.mark.parametrize("control_group", ["never_treated", "not_yet_treated"])
def test_recovery_over_replications(control_group):
    """100 replications: the simple and event-study ATTs are unbiased against their SE and their 95%
    intervals cover 90-99% of the time; the pre-test rejects a true null about 5% of the time."""
    rng = np.random.default_rng(1)
    reps, errs, ses, cover, rejections = (
        100,
        {"simple": [], "dynamic": []},
        {"simple": [], "dynamic": []},
        {"simple": 0, "dynamic": 0},
        0,
    )
    for _ in range(reps):
        df = staggered_panel(rng)
        r = estimate_staggered_did(df, "y", "id", "t", "g", control_group=control_group)
        rejections += r.pretrend_test.p_value < 0.05
        for kind in ("simple", "dynamic"):
            o = r.aggregate(kind).overall
            true = truth(df, kind)
            errs[kind].append(o.estimate - true)
            ses[kind].append(o.std_error)
            cover[kind] += o.ci_low <= true <= o.ci_high
    for kind in ("simple", "dynamic"):
        bias, mean_se = np.mean(errs[kind]), np.mean(ses[kind])
        assert abs(bias) < 3 * mean_se / np.sqrt(reps), (
            kind,
            bias,
            mean_se,
        )  # under 3 MC standard errors
        assert 0.8 < np.std(errs[kind]) / mean_se < 1.25, (
            kind
        )  # the SE is the spread it claims (+-3 MC s.e.)
        assert 0.90 <= cover[kind] / reps <= 0.99, (kind, cover[kind])
    assert rejections / reps <= 0.10


def test_planted_trend_violation_is_flagged():
    """The two latest cohorts drift away before treatment: both the cell-level pre-test (did's) and the
    joint test of the event-study pre-periods reject, and the violation shows in the pre-periods."""
    rng = np.random.default_rng(5)
    df = staggered_panel(rng, units=1500, trend_violation=0.15)
    r = estimate_staggered_did(df, "y", "id", "t", "g", control_group="not_yet_treated")
    assert r.pretrend_test.p_value < 0.001
    dyn = r.aggregate("dynamic")
    assert dyn.pretrend_test.p_value < 0.001
    pre = dyn.table.loc[dyn.table.index < 0, "estimate"]
    assert pre.mean() > 0.02 and (pre > 0).sum() >= 4
    clean = estimate_staggered_did(
        staggered_panel(np.random.default_rng(5), units=1500),
        "y",
        "id",
        "t",
        "g",
        control_group="not_yet_treated",
    )
    assert clean.pretrend_test.p_value > 0.01


def test_not_yet_treated_with_covariates(mpdta, fits):
    """No published reference: where the not-yet-treated controls are the never-treated ones (every cell
    in 2007, the last period) the doubly robust cells equal the never-treated ones; elsewhere they use
    more controls and differ, as without covariates."""
    r = estimate_staggered_did(mpdta, **KW, covariates=["lpop"], control_group="not_yet_treated")
    ny = r.group_time.set_index(["cohort", "time"])
    never = fits["never_dr_lpop"].group_time.set_index(["cohort", "time"])
    for g in (2004, 2006, 2007):
        assert ny.loc[(g, 2007), "estimate"] == pytest.approx(
            never.loc[(g, 2007), "estimate"], abs=1e-12
        )
        assert ny.loc[(g, 2007), "std_error"] == pytest.approx(
            never.loc[(g, 2007), "std_error"], rel=1e-10
        )
    assert ny.loc[(2004, 2004), "n_control"] > never.loc[(2004, 2004), "n_control"]
    assert ny.loc[(2004, 2004), "estimate"] != pytest.approx(
        never.loc[(2004, 2004), "estimate"], abs=1e-4
    )
    assert r.aggregate("simple").overall.std_error > 0


def test_dynamic_aggregation_feeds_the_rambachan_roth_analysis(mpdta):
    """The universal-base event study's estimates and covariance, reference period left out, are what
    HonestDiD's functions take: the conventional interval for the first post period is aggte's e = 0
    interval, and the relative-magnitudes sets widen with Mbar around it."""
    from wi_pipeline.estimation import original_ci, relative_magnitudes

    dyn = estimate_staggered_did(mpdta, **KW, base_period="universal").aggregate("dynamic")
    beta, sigma, n_pre, n_post = dyn.event_time_inputs()
    ci = original_ci(beta, sigma, n_pre, n_post)
    assert ci.loc[0, "ci_low"] == pytest.approx(dyn.table.loc[0, "ci_low"], abs=1e-12)
    assert ci.loc[0, "ci_high"] == pytest.approx(dyn.table.loc[0, "ci_high"], abs=1e-12)
    rm = relative_magnitudes(beta, sigma, n_pre, n_post, mbar=(0, 1), grid_points=200)
    assert (
        rm.loc[0, "ci_low"] >= rm.loc[1, "ci_low"] and rm.loc[0, "ci_high"] <= rm.loc[1, "ci_high"]
    )
