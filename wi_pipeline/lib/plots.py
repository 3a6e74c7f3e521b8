"""Plots of published results: forest plots, the binned RD plot and the staggered event-study plot.

Each takes data that has already passed disclosure control (withheld rows are drawn as gaps, never
with their values) and returns PNG bytes.
"""

from __future__ import annotations

import io
import json
import textwrap

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from wi_pipeline.lib.designs import RD_CUTOFF
from wi_pipeline.lib.disclosure import DisclosureRules, suppress_bins


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def forest_plot(
    rows: pd.DataFrame,
    title: str,
    scale: float = 100.0,
    unit: str = "pp",
    labels: list[str] | None = None,
) -> bytes:
    """One line per row (by default a subgroup value): estimate and 95% interval; withheld rows are
    listed, not drawn."""
    rows = rows.reset_index(drop=True)
    if labels is None:
        labels = [
            ("all" if r.subgroup == "all" else f"{r.subgroup}: {r.subgroup_value}")
            for r in rows.itertuples()
        ]
    fig, ax = plt.subplots(figsize=(7, 0.32 * len(rows) + 1.2))
    y = np.arange(len(rows))[::-1]
    shown = ~rows["suppressed"].to_numpy()
    est = rows["estimate"].to_numpy(dtype=float) * scale
    lo = rows["ci_low"].to_numpy(dtype=float) * scale
    hi = rows["ci_high"].to_numpy(dtype=float) * scale
    ax.errorbar(
        est[shown],
        y[shown],
        xerr=[est[shown] - lo[shown], hi[shown] - est[shown]],
        fmt="o",
        color="#1f4e79",
        ecolor="#7aa6d6",
        capsize=2,
    )
    for yi in y[~shown]:
        ax.text(
            0,
            yi,
            "withheld (disclosure control)",
            va="center",
            ha="center",
            fontsize=7,
            color="#888",
        )
    ax.axvline(0, color="#444", lw=0.8)
    ax.set_yticks(y, labels, fontsize=8)
    ax.set_xlabel(f"effect ({unit}) with 95% interval")
    ax.set_title(title, fontsize=10)
    return _png(fig)


def rd_plot_bins(
    sample: pd.DataFrame,
    outcome: str = "employed",
    rules: DisclosureRules = DisclosureRules(),
    months: int = 24,
) -> pd.DataFrame:
    """Monthly bins of the outcome by the youngest child's age around 60 months, persons per bin: one bin
    per month of age within ``months`` of the cutoff, each side its own bins, on the RD ``sample`` the
    estimates rest on (``ExemptionFits.rd_sample``); a month with fewer than ``min_units`` persons is
    withheld (and the next smallest with it, see suppress_bins)."""
    df = sample[sample["running"].between(RD_CUTOFF - months, RD_CUTOFF + months - 1)]
    bins = (
        df.groupby("running").agg(mean=(outcome, "mean"), n=("pseudo_id", "nunique")).reset_index()
    )
    bins = bins.rename(columns={"running": "age_months"})
    return suppress_bins(bins, "n", rules)


# the RD and event-study plots carry the exemption's answer: wide enough to read month by month in the UI
WIDE = (11, 5.5)


def rd_plot(bins: pd.DataFrame, outcome: str = "employed") -> bytes:
    fig, ax = plt.subplots(figsize=WIDE)
    ok = ~bins["suppressed"]
    for side, color in (
        (bins["age_months"] < RD_CUTOFF, "#1f4e79"),
        (bins["age_months"] >= RD_CUTOFF, "#c0504d"),
    ):
        part = bins[ok & side]
        ax.plot(part["age_months"], part["mean"], "o", color=color, ms=4)
        if len(part) > 1:
            coef = np.polyfit(part["age_months"], part["mean"], 1)
            ax.plot(part["age_months"], np.polyval(coef, part["age_months"]), color=color, lw=1)
    ax.axvline(RD_CUTOFF - 0.5, color="#444", ls="--", lw=0.8)
    ax.set_xlabel("age of the youngest child (months); the art. 9a exemption ends at 60")
    ax.set_ylabel(f"share {outcome}")
    ax.set_title("Single parents on bijstand around the youngest child's 5th birthday", fontsize=10)
    return _png(fig)


RD_MAIN_CONTRASTS = {
    False: "child aged 60+ months vs under 60 (reduced form)",
    True: "exemption (fuzzy RD, LATE)",
}


def rd_sensitivity_points(
    effects: pd.DataFrame,
    fuzzy: bool = False,
    outcome: str = "employed",
    rules: DisclosureRules = DisclosureRules(),
) -> pd.DataFrame:
    """The published RD estimate and its robustness rows (overall sample) as plot points: bandwidth
    (months), estimate and interval. A withheld row, or one with fewer than ``min_units`` persons on a
    side, keeps its label but no numbers, so it is listed and never drawn."""
    from wi_pipeline.lib.effects import RD_ROBUSTNESS

    head = f"{RD_ROBUSTNESS}{', fuzzy LATE' if fuzzy else ''}: "
    t = effects[
        (effects["measure"] == "exemption_9a")
        & (effects["subgroup"] == "all")
        & (effects["outcome"] == outcome)
    ]
    t = t[(t["contrast"] == RD_MAIN_CONTRASTS[fuzzy]) | t["contrast"].str.startswith(head)]
    rows = []
    for r in t.itertuples(index=False):
        diag = json.loads(r.diagnostics) if isinstance(r.diagnostics, str) and r.diagnostics else {}
        small = not (
            min(float(r.n_treated), float(r.n_control)) >= rules.min_units
        )  # NaN counts as small
        shown = not bool(r.suppressed) and not small and np.isfinite(float(r.estimate))
        kind = diag.get("variant") or (
            "mse_optimal"
            if r.contrast == RD_MAIN_CONTRASTS[fuzzy]
            else r.contrast[len(head) :].split(" ")[0]
        )
        label = (
            "MSE-optimal h and b (published)"
            if r.contrast == RD_MAIN_CONTRASTS[fuzzy]
            else r.contrast[len(head) :]
        )
        rows.append(
            {
                "label": label,
                "kind": kind,
                "suppressed": not shown,
                **{
                    k: (float(v) if shown else np.nan)
                    for k, v in (
                        ("bandwidth", diag.get("bandwidth_left", diag.get("bandwidth", np.nan))),
                        ("estimate", r.estimate),
                        ("ci_low", r.ci_low),
                        ("ci_high", r.ci_high),
                    )
                },
            }
        )
    columns = ["label", "kind", "suppressed", "bandwidth", "estimate", "ci_low", "ci_high"]
    return pd.DataFrame(rows, columns=columns)


_RD_MARKERS = {
    "mse_optimal": ("*", "#c0504d", "published (MSE-optimal h and b)"),
    "bandwidth": ("o", "#1f4e79", "fixed h, b = h"),
    "donut": ("D", "#7f6000", "donut"),
    "placebo": ("X", "#5b9b5b", "placebo cutoff (no jump expected)"),
}


def rd_sensitivity_plot(effects: pd.DataFrame, rules: DisclosureRules = DisclosureRules()) -> bytes:
    """Estimate and 95% interval against the bandwidth, for the reduced form and the LATE; placebo and
    donut estimates marked at their own bandwidth; withheld estimates listed, not drawn."""
    panels = [(f, rd_sensitivity_points(effects, f, rules=rules)) for f in (False, True)]
    panels = [(f, p) for f, p in panels if len(p)]
    fig, axes = plt.subplots(
        1, max(len(panels), 1), figsize=(6.2 * max(len(panels), 1), 4.2), squeeze=False
    )
    for ax, (fuzzy, pts) in zip(axes[0], panels):
        ok = pts[~pts["suppressed"]]
        ladder = ok[ok["kind"] == "bandwidth"].sort_values("bandwidth")
        ax.plot(ladder["bandwidth"], ladder["estimate"] * 100, color="#7aa6d6", lw=0.8)
        for kind, (marker, colour, name) in _RD_MARKERS.items():
            part = ok[ok["kind"] == kind]
            if len(part):
                est = part["estimate"].to_numpy(dtype=float) * 100
                ax.errorbar(
                    part["bandwidth"].to_numpy(dtype=float),
                    est,
                    yerr=[
                        est - part["ci_low"].to_numpy(dtype=float) * 100,
                        part["ci_high"].to_numpy(dtype=float) * 100 - est,
                    ],
                    fmt=marker,
                    color=colour,
                    ecolor=colour,
                    capsize=2,
                    label=name,
                    alpha=0.9,
                    zorder=3 if kind == "mse_optimal" else 2,
                    ms=10 if kind == "mse_optimal" else 6,
                )
        for r in ok[ok["kind"].isin(["placebo", "donut"])].itertuples():
            ax.annotate(
                r.label.split(" (")[0],
                (r.bandwidth, r.estimate * 100),
                fontsize=6,
                xytext=(4, 4),
                textcoords="offset points",
            )
        withheld = pts.loc[pts["suppressed"], "label"].tolist()
        if withheld:
            ax.text(
                0.01,
                -0.22,
                "withheld (disclosure control or not estimable): " + "; ".join(withheld),
                transform=ax.transAxes,
                fontsize=6,
                color="#888",
                wrap=True,
                va="top",
            )
        ax.axhline(0, color="#444", lw=0.8)
        ax.set_xlabel("bandwidth h (months either side of the cutoff)")
        ax.set_ylabel("effect (pp) with 95% interval")
        ax.set_title(
            "Fuzzy RD: effect of the exemption (LATE)"
            if fuzzy
            else "Reduced form: jump in employment at 60 months",
            fontsize=9,
        )
        ax.legend(fontsize=6, loc="best")
    if not panels:
        axes[0][0].axis("off")
        axes[0][0].text(0.5, 0.5, "no RD estimates in the table", ha="center", va="center")
    fig.suptitle("RD robustness: bias-corrected estimates with robust 95% intervals", fontsize=10)
    return _png(fig)


def event_study_points(
    coefficients: pd.DataFrame, rules: DisclosureRules = DisclosureRules()
) -> pd.DataFrame:
    """Event-time points as plot bins: a month with fewer than ``min_units`` persons is withheld."""
    c = coefficients.reset_index()
    c = c.rename(columns={c.columns[0]: "event_time"})
    c["n_units"] = c["n_units"].fillna(0)
    return suppress_bins(
        c,
        "n_units",
        rules,
        value_cols=[
            col
            for col in ("estimate", "std_error", "ci_low", "ci_high", "p_value", "n")
            if col in c
        ],
    )


def event_study_plot(
    coefficients: pd.DataFrame,
    rules: DisclosureRules = DisclosureRules(),
    title: str = "Staggered DiD (Callaway & Sant'Anna): effect by month since the 5th birthday",
    ylabel: str = "employment (pp, against the month before)",
) -> bytes:
    """Estimates by month relative to the youngest child's 5th birthday with 95% intervals, pre-birthday
    months included (placebos: zero under parallel trends); withheld months are left out."""
    c = event_study_points(coefficients, rules)
    ok = ~c["suppressed"] & c["estimate"].notna()
    pre = ok & (c["event_time"] < 0)
    fig, ax = plt.subplots(figsize=WIDE)
    for mask, colour, label in (
        (pre, "#9bb7d4", "before (placebo)"),
        (ok & ~pre, "#1f4e79", "after"),
    ):
        ax.errorbar(
            c.loc[mask, "event_time"],
            c.loc[mask, "estimate"] * 100,
            yerr=[
                (c.loc[mask, "estimate"] - c.loc[mask, "ci_low"]).fillna(0) * 100,
                (c.loc[mask, "ci_high"] - c.loc[mask, "estimate"]).fillna(0) * 100,
            ],
            fmt="o",
            color=colour,
            ecolor=colour,
            capsize=2,
            ms=3,
            label=label,
        )
    ax.axhline(0, color="#444", lw=0.8)
    ax.axvline(-0.5, color="#444", ls="--", lw=0.8)
    ax.set_xlabel(
        "months relative to the youngest child's 5th birthday (the art. 9a exemption ends)"
    )
    ax.set_ylabel(ylabel)
    ax.legend(fontsize=7, loc="best")
    ax.set_title(title, fontsize=10)
    return _png(fig)


def assignment_rule_plot(table: pd.DataFrame, title: str) -> bytes:
    """The rule as a picture: one panel per group of the rule (its conditions and share of the
    population), every arm's expected regular work in it with a 95% interval, the arm the rule
    gives it in dark; withheld numbers are listed, not drawn."""
    leaves = table[table["section"] == "leaf"]
    groups = list(dict.fromkeys(leaves["item"]))
    if not groups:
        fig, ax = plt.subplots(figsize=(7, 1.2))
        ax.axis("off")
        ax.text(0.5, 0.5, "no rule could be learned", ha="center", va="center")
        return _png(fig)
    arms = list(dict.fromkeys(leaves["arm"]))
    fig, axes = plt.subplots(
        1,
        len(groups),
        figsize=(3.1 * len(groups) + 1.2, 0.3 * len(arms) + 2.6),
        sharey=True,
        sharex=True,
        squeeze=False,
    )
    y = np.arange(len(arms))[::-1]
    for ax, group in zip(axes[0], groups):
        part = leaves[leaves["item"] == group].set_index("arm").reindex(arms)
        shown = ~part["suppressed"].fillna(True).to_numpy(dtype=bool)
        est = part["estimate"].to_numpy(dtype=float) * 100
        lo = part["ci_low"].to_numpy(dtype=float) * 100
        hi = part["ci_high"].to_numpy(dtype=float) * 100
        given = part["share_given"].fillna(0).to_numpy(dtype=float) > 0
        for mask, colour in ((shown & ~given, "#9bb7d4"), (shown & given, "#1f4e79")):
            ax.errorbar(
                est[mask],
                y[mask],
                xerr=[est[mask] - lo[mask], hi[mask] - est[mask]],
                fmt="o",
                color=colour,
                ecolor=colour,
                capsize=2,
            )
        for yi in y[~shown]:
            ax.text(
                0.02,
                yi,
                "withheld",
                transform=ax.get_yaxis_transform(),
                va="center",
                fontsize=7,
                color="#888",
            )
        share = part["population_share"].dropna()
        head = "\n".join(textwrap.wrap(group[0].upper() + group[1:], 34))
        ax.set_title(
            f"{head}\n({share.iloc[0]:.0%} of the population)" if len(share) else head, fontsize=8
        )
        ax.set_xlabel("% in regular work a year later", fontsize=8)
        top = np.nanmax(leaves["ci_high"].to_numpy(dtype=float), initial=0.0) * 100
        ax.set_xlim(0, min(100.0, max(10.0, 1.1 * top)))
        ax.tick_params(labelsize=7)
    axes[0][0].set_yticks(
        y, [a.replace("_", " ") if a != "wait" else "waiting" for a in arms], fontsize=8
    )
    fig.suptitle(
        title + " (dark: what the rule gives the group; 95% intervals)", fontsize=10, y=1.0
    )
    fig.tight_layout()
    return _png(fig)


def exemption_figures(rd_bins: pd.DataFrame, event_points: pd.DataFrame) -> dict:
    """The exemption's two pictures as plain numbers (withheld bins and months blank, no person counts),
    for a report drawn outside Dagster."""

    def records(df: pd.DataFrame, cols: list[str]) -> list[dict]:
        return [
            {c: (None if pd.isna(v) else float(v)) for c, v in row.items()}
            for row in df[cols].to_dict(orient="records")
        ]

    return {
        "rd_bins": records(rd_bins, ["age_months", "mean"]),
        "event_study": records(event_points, ["event_time", "estimate", "ci_low", "ci_high"]),
    }
