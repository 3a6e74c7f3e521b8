"""The synthetic generator: determinism, the landing contract, planted faults and planted effects."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyreadstat
import pytest

from wi_pipeline.lib.cbs_delivery import delivery_rules, find_delivery
from wi_pipeline.lib.layout import CBS_TABLES, G4, REGISTERS, SRG_CATEGORIES
from wi_pipeline.synthetic.cli import main
from wi_pipeline.synthetic.config import G4_STOCK, SyntheticConfig
from wi_pipeline.synthetic.extracts import FAULT_KINDS, write_landing
from wi_pipeline.synthetic.truth import planted_effects, write_truth
from wi_pipeline.synthetic.world import simulate_world
from wi_pipeline_tests.helpers import read_delivered

EXTRACT = "20250115.csv"


def eleven_test(values: pd.Series) -> pd.Series:
    s = values.astype(str)
    ok = s.str.fullmatch(r"\d{9}")
    digits = np.array([[int(c) for c in b] if good else [0] * 9 for b, good in zip(s, ok)])
    total = digits @ np.array([9, 8, 7, 6, 5, 4, 3, 2, -1])
    return ok & (total % 11 == 0) & (total != 0)


@pytest.fixture(scope="module")
def world():
    return simulate_world(SyntheticConfig(scale=0.03))


@pytest.fixture(scope="module")
def landing(world, tmp_path_factory):
    folder = tmp_path_factory.mktemp("landing")
    return folder, write_landing(world, folder)


@pytest.fixture(scope="module")
def cbs(landing) -> dict[str, pd.DataFrame]:
    """Each CBS table as the pipeline reads it from the delivered files, untyped."""
    folder, _ = landing
    return {t: read_delivered(folder, t) for t in CBS_TABLES}


def _read_csv(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, sep=";", dtype=str, keep_default_na=False)


def test_same_seed_gives_identical_files(tmp_path):
    cfg = SyntheticConfig(seed=7, scale=0.01)
    for name in ("a", "b"):
        write_landing(simulate_world(cfg), tmp_path / name)
    files_a = sorted(
        p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*") if p.is_file()
    )
    files_b = sorted(
        p.relative_to(tmp_path / "b") for p in (tmp_path / "b").rglob("*") if p.is_file()
    )
    assert files_a == files_b
    assert sum(rel.parts[0] != "CBS" for rel in files_a) == 4 * len(REGISTERS)
    assert {rel.parts[1] for rel in files_a if rel.parts[0] == "CBS"} == set(CBS_TABLES)
    for rel in files_a:
        assert (tmp_path / "a" / rel).read_bytes() == (tmp_path / "b" / rel).read_bytes(), rel
    write_landing(simulate_world(SyntheticConfig(seed=8, scale=0.01)), tmp_path / "c")
    assert (tmp_path / "a" / "GM0599" / "bijstand" / EXTRACT).read_bytes() != (
        tmp_path / "c" / "GM0599" / "bijstand" / EXTRACT
    ).read_bytes()


def test_bsns_pass_the_eleven_test_and_lie_in_the_test_range(world, landing, cbs):
    folder, summary = landing
    assert eleven_test(world.persons["bsn"]).all()
    assert world.persons["bsn"].str.startswith("9999").all()
    assert world.persons["bsn"].is_unique
    invalid = 0
    for gm in G4:
        for reg in REGISTERS:
            bsn = _read_csv(folder / gm / reg / EXTRACT)["BSN"]
            assert bsn.str.startswith("9999").all()
            invalid += int((~eleven_test(bsn)).sum())
    assert invalid == summary["faults"]["invalid_bsn"] > 0
    key = cbs["KOPPELTABEL"]
    assert eleven_test(key["BSN"]).all()
    assert (
        0.97 * len(world.persons) < len(key) < len(world.persons)
    )  # about 1% missing from the key file


def test_files_follow_the_landing_contract(landing, cbs):
    folder, summary = landing
    for gm in G4:
        for reg, layout in REGISTERS.items():
            path = folder / gm / reg / EXTRACT
            header = path.read_text(encoding="utf-8").splitlines()[0]
            assert header.split(";") == layout.required_columns
    not_used = []
    for table, layout in CBS_TABLES.items():
        delivery = find_delivery(folder, table)
        kind = delivery_rules()[table].kind
        years = [f.year for f in delivery.files]
        assert (len(years) > 1) == (kind == "yearly"), table  # snapshots: the newest year only
        for file in delivery.files:  # as CBS delivers: SPSS, its names and types
            assert file.form == "sav" and file.path.parent.name == table
            _, meta = pyreadstat.read_sav(file.path, metadataonly=True)
            assert meta.column_names == list(layout.columns)
            for col, type_ in meta.readstat_variable_types.items():
                expected = "double" if col in layout.numeric_columns else "string"
                assert type_ == expected, (file.path.name, col)
        not_used += [f"CBS/{table}/{name}" for name, _ in delivery.ignored]
        df = cbs[table]
        if "RINPERSOON" in df:
            assert df["RINPERSOON"].str.fullmatch(r"\d{9}").all(), table
        for col in layout.columns:
            if col.startswith(("DATUM", "SDATUM", "AANV", "EINDSECM", "GBADATUM", "PEILDATUM")):
                assert df[col].str.fullmatch(r"(\d{8})?").all(), (table, col)
    ko = cbs["KINDOUDERTAB"]
    assert (ko["RINPERSOONpa"] == "---------").any()
    # the leftovers of a real folder (an older version, last year's snapshot, a csv copy, a stray
    # copy, a readme) are all there and all left, with nothing else
    assert sorted(not_used) == sorted(summary["cbs_files_not_used"]) and len(not_used) == 5
    assert "CBS/SPOLISBUS/SPOLISBUS2018V1.sav" in not_used


def test_faults_are_planted_and_counted(landing):
    folder, summary = landing
    assert set(summary["faults"]) == set(FAULT_KINDS)
    assert all(n > 0 for n in summary["faults"].values()), summary["faults"]
    dups = sum(
        int(_read_csv(folder / gm / reg / EXTRACT).duplicated().sum())
        for gm in G4
        for reg in REGISTERS
    )
    assert dups >= summary["faults"]["duplicate_row"]
    open_spells = sum(
        int((_read_csv(folder / gm / "bijstand" / EXTRACT)["EINDDATUM"] == "").sum()) for gm in G4
    )
    assert open_spells > 0


def test_edge_cases_of_real_deliveries_are_planted_and_counted(world, landing, cbs):
    """Back-to-back benefit spells of other codes, empty TYPHH next to PLHH 7, empty PROBSCHULDPERS,
    person-years without cost data, rows delivered twice, and person keys that are not 'R'."""
    folder, summary = landing
    cases = summary["edge_cases"]
    assert all(n > 0 for n in cases.values()), cases
    hh = cbs["GBAHUISHOUDENSBUS"]
    assert (hh["TYPHH"].isna() & (hh["PLHH"] == "7")).any() and hh["TYPHH"].isna().mean() < 0.02
    assert (
        0 < cbs["PROBSCHULDTAB"]["PROBSCHULDPERS"].isna().sum() <= cases["debt_status_missing"] + 2
    )
    costs = cbs["ZVWZORGKOSTENTAB"].filter(like="ZVWK")
    assert costs.isna().all(axis=1).sum() == cases["care_cost_year_missing"]
    for table in (
        "SPOLISBUS",
        "SECMBUS",
        "GBAHUISHOUDENSBUS",
        "PROBSCHULDTAB",
        "GBABURGERLIJKESTAATBUS",
    ):
        assert cbs[table].duplicated().sum() == cases[f"duplicated_rows_{table}"], table
    key = cbs["KOPPELTABEL"]
    assert (key["RINPERSOONS"] == "S").sum() == cases["other_key_persons"]
    people = cbs["GBAPERSOONTAB"]
    namesakes = people.loc[people["RINPERSOONS"] == "S", "RINPERSOON"]
    same_number = namesakes.isin(people.loc[people["RINPERSOONS"] == "R", "RINPERSOON"])
    assert same_number.sum() == cases["other_key_namesakes"]
    # a split run: pieces of one dossier, each starting the day after the one before, with another code
    pieces = 0
    for gm in G4:
        b = _read_csv(folder / gm / "bijstand" / EXTRACT)
        layout = REGISTERS["bijstand"]
        b = b[b["BSN"].isin(world.persons["bsn"])].assign(
            start=lambda x, layout=layout: pd.to_datetime(
                x[layout.start_column], format="%d-%m-%Y", errors="coerce"
            ),
            end=lambda x, layout=layout: pd.to_datetime(
                x[layout.end_column], format="%d-%m-%Y", errors="coerce"
            ),
        )
        b = b.dropna(subset=["start"]).sort_values(["DOSSIERNUMMER", "start"])
        same = b["DOSSIERNUMMER"].eq(b["DOSSIERNUMMER"].shift())
        pieces += int(
            (
                same
                & b["start"].eq(b["end"].shift() + pd.Timedelta(days=1))
                & b["REGELING"].ne(b["REGELING"].shift())
            ).sum()
        )
    assert pieces >= cases["split_benefit_spells"] > 0


def test_free_text_holds_no_bsn_like_numbers(landing):
    folder, _ = landing
    for gm in G4:
        text = _read_csv(folder / gm / "reintegratie" / EXTRACT)["VOORZIENING_OMSCHRIJVING"]
        assert not text.str.contains(r"\d{6,}").any()


def test_local_instrument_codes_come_from_the_mapping(world, landing):
    folder, _ = landing
    mapping = pd.read_csv(
        Path(__file__).resolve().parents[2] / "wi_pipeline" / "reference" / "srg_mapping.csv",
        sep=";",
        dtype=str,
    )
    for gm in G4:
        codes = set(_read_csv(folder / gm / "reintegratie" / EXTRACT)["VOORZIENING_CODE"])
        local = set(mapping.loc[mapping["GEMEENTE"] == gm, "VOORZIENING_CODE"])
        assert len(codes & local) >= 6


def test_panel_columns_and_population(world):
    p = world.panel
    assert list(p.columns[:3]) == ["gemeente", "person_id", "month"]
    for cat in SRG_CATEGORIES:
        assert p[f"instr_{cat}"].dtype == bool and f"months_since_start_{cat}" in p
    counts = p.groupby("gemeente", observed=True)["person_id"].nunique()
    for gm, stock in G4_STOCK.items():
        assert counts[gm] == pytest.approx(0.03 * 1.3 * stock, rel=0.1)
    assert counts["GM0363"] / counts["GM0344"] == pytest.approx(34880 / 9204, rel=0.1)
    share = p.loc[p["on_bijstand"], "single_parent"].mean()
    assert 0.15 < share < 0.27
    assert (
        p["self_sufficient"] == ~p["on_bijstand"]
    ).mean() > 0.97  # movers differ in their other city
    poor = p.groupby("person_id")["poor_health"].first()
    assert poor.mean() == pytest.approx(0.3, abs=0.07)
    assert (p.loc[p["poor_health"], "care_costs_total"] >= 2500).all()
    assert (p.loc[~p["poor_health"], "care_costs_total"] < 2500).all()
    assert (
        world.persons.set_index("person_id").loc[poor.index, "poor_health"].to_numpy()
        == poor.to_numpy()
    ).all()
    assert world.persons["gemeente_after_move"].notna().mean() == pytest.approx(0.03, abs=0.015)


def test_rd_first_stage(world):
    p = world.panel
    sp = p[p["single_parent"] & p["on_bijstand"]]
    age = sp["youngest_child_age_months"]
    below = sp.loc[age.between(54, 59), "exemption_9a"].mean()
    above = sp.loc[age.between(60, 65), "exemption_9a"].mean()
    assert 0.5 < below < 0.72
    assert above == 0
    # a meaningful number of single parents see the youngest child turn five inside the window
    crossing = (
        sp.loc[age.between(57, 62)]
        .groupby("person_id")["youngest_child_age_months"]
        .agg(["min", "max"])
    )
    assert ((crossing["min"] < 60) & (crossing["max"] >= 60)).sum() > 30


def test_the_recovery_study_holds_its_designs_against_the_truth_files_numbers(world):
    from wi_pipeline.synthetic.truth import design_truths

    truth = planted_effects(world, instrument_choice=False)
    att = {
        "scholing_att": truth["instruments"]["scholing"]["att"]["12"]["overall"],
        "mediation_alone_att": truth["combined_approach"]["att"]["12"]["mediation_alone"],
    }
    assert design_truths(world) == {
        "scholing_att": att["scholing_att"]["effect_pp"] / 100,
        "exemption_late": truth["exemption_9a"]["late_pp"] / 100,
        "mediation_alone_att": att["mediation_alone_att"]["effect_pp"] / 100,
    }


def test_naive_comparison_of_scholing_is_biased(world):
    p = world.panel
    truth = planted_effects(world, instrument_choice=False)["instruments"]["scholing"]["att"]["12"][
        "overall"
    ]
    assert truth["effect_pp"] == pytest.approx(5.0, abs=1.5) and truth["n"] > 100
    participants = p["months_since_start_scholing"].notna()
    post = p.loc[p["months_since_start_scholing"] >= 6, "employed"].mean()
    never = p.loc[
        ~p.groupby("person_id")["months_since_start_scholing"].transform("max").notna(), "employed"
    ].mean()
    naive_pp = (post - never) * 100
    assert participants.any()
    assert abs(naive_pp - truth["effect_pp"]) > 3


def test_truth_file_structure(world, landing, tmp_path):
    _, summary = landing
    path = write_truth(world, tmp_path / "truth.json", summary)
    truth = json.loads(path.read_text())
    for key in (
        "format_version",
        "generator",
        "definitions",
        "population",
        "outcome_model",
        "exemption_9a",
        "instruments",
        "post_multipliers",
        "combined_approach",
        "faults_planted",
        "instrument_choice",
        "assignment_rule",
        "edge_cases_planted",
    ):
        assert key in truth
    rule = truth["assignment_rule"]
    assert rule["features"] == ["sex", "health"] and len(rule["rule"]) == 4
    assert rule["value"] >= max(rule["arm_values"].values()) and rule["gain_over_observed"] > 0
    assert set(truth["instruments"]) == set(SRG_CATEGORIES)
    for entry in truth["instruments"].values():
        assert {"duration_months", "during_pp", "post_base_pp", "n_starts", "att"} <= set(entry)
        for h in ("3", "6", "12", "24"):
            att = entry["att"][h]
            assert {"overall", "nominal_pp", "by_subgroup"} <= set(att)
            assert set(att["by_subgroup"]) == {"sex", "n_children", "marital_status", "health"}
    ex = truth["exemption_9a"]
    assert ex["effect_nominal_pp"] == -4.0 and -4.0 <= ex["late_pp"] < -3.0
    assert ex["expected_reduced_form_jump_pp"] == pytest.approx(2.4, abs=0.6)
    comb = truth["combined_approach"]["att"]["12"]
    assert (
        comb["debt_assistance_plus_mediation"]["effect_pp"] > comb["mediation_alone"]["effect_pp"]
    )
    with pytest.raises(ValueError):
        write_truth(world, Path(summary["landing"]) / "truth.json", summary)


def test_cli_refuses_a_non_empty_landing_folder(tmp_path, capsys):
    landing = tmp_path / "landing"
    (landing / "GM0599").mkdir(parents=True)
    (landing / "GM0599" / "real.csv").write_text("x")
    assert (
        main(["--landing", str(landing), "--truth", str(tmp_path / "t.json"), "--scale", "0.005"])
        == 2
    )
    assert (
        main(
            [
                "--landing",
                str(tmp_path / "new"),
                "--truth",
                str(tmp_path / "new" / "t.json"),
                "--scale",
                "0.005",
            ]
        )
        == 2
    )
    assert (
        main(
            [
                "--landing",
                str(tmp_path / "new"),
                "--truth",
                str(tmp_path / "t.json"),
                "--scale",
                "0.005",
                "--seed",
                "3",
            ]
        )
        == 0
    )
    assert "faults planted" in capsys.readouterr().out
    assert (tmp_path / "new" / "CBS" / "KOPPELTABEL" / "KOPPELTABEL.sav").is_file() and (
        tmp_path / "t.json"
    ).is_file()
