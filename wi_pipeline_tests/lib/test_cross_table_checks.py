import pandas as pd

from wi_pipeline.lib.quality import children_born_after_parents

PERSONS = pd.DataFrame(
    {
        "RINPERSOONS": ["R", "R", "R", "R"],
        "RINPERSOON": ["000000001", "000000002", "000000003", "000000004"],
        "GBAGEBOORTEJAAR": pd.array([1980, 1982, 2010, 2015], dtype="Int64"),
        "GBAGEBOORTEMAAND": pd.array([5, 1, 3, 7], dtype="Int64"),
    }
)


def links(
    mother: str, father: str = "---------", child: str = "000000003", kind: str = "R"
) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "RINPERSOONS": ["R"],
            "RINPERSOON": [child],
            "RINPERSOONSMa": [kind],
            "RINPERSOONMa": [mother],
            "RINPERSOONSpa": ["R"],
            "RINPERSOONpa": [father],
        }
    )


def test_parents_born_well_before_their_children_pass():
    r = children_born_after_parents(links("000000001", "000000002"), PERSONS)
    assert r.success and r.observed["links_judged"] == 2 and r.unexpected_count == 0


def test_a_child_born_before_its_parent_fails_and_says_how_often():
    # the 2015 child registered as mother of the 2010 child: a swapped key
    r = children_born_after_parents(links("000000004"), PERSONS)
    assert not r.success and r.blocking and r.unexpected_count == 1
    assert "1 of 1 child-parent links" in r.note


def test_unknown_parents_and_missing_birth_dates_are_not_judged():
    persons = PERSONS.assign(GBAGEBOORTEJAAR=pd.array([1980, None, 2010, 2015], dtype="Int64"))
    r = children_born_after_parents(links("---------", "000000002"), persons)
    assert r.success and r.observed["links_judged"] == 0


def test_a_rare_register_error_is_tolerated_like_gx_mostly():
    many = pd.concat([links("000000001")] * 1999 + [links("000000004")], ignore_index=True)
    assert children_born_after_parents(many, PERSONS).success  # 1 in 2000
    assert not children_born_after_parents(many, PERSONS, mostly=1.0).success


def test_persons_are_matched_on_the_key_pair():
    # an unmatched 'S' person with the same number as the 2015 child is someone else
    assert (
        children_born_after_parents(links("000000004", kind="S"), PERSONS).observed["links_judged"]
        == 0
    )
    s_twin = pd.concat(
        [PERSONS, PERSONS.iloc[[3]].assign(RINPERSOONS="S", GBAGEBOORTEJAAR=1950)],
        ignore_index=True,
    )
    assert not children_born_after_parents(
        links("000000004"), s_twin
    ).success  # the 'R' one is still judged
