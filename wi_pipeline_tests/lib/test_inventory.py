import re

import pytest

from wi_pipeline.lib.ingest import ingest_register
from wi_pipeline.lib.inventory import (DROPPED_AT_INGESTION, INTERNAL_REPORTS, PUBLISHED, AssetEntry,
                                       dutch_description, inventory_html)
from wi_pipeline.lib.layout import CBS_TABLES, REGISTERS
from wi_pipeline.lib.pseudonymise import DEMO_KEY, PseudonymKey
from wi_pipeline_tests.helpers import synthetic_bsns, write_extract

ENTRIES = [AssetEntry("panel/linked_panel", "panel", "One row per person per month"),
           AssetEntry("registers/bijstand", "registers", "Social assistance benefits."),
           AssetEntry("reports/data_quality", "reports", "Data-quality report of one municipality."),
           AssetEntry("reports/g4_data_quality", "reports", "Are the four cities comparable?"),
           AssetEntry("effects/effect_table_g4", "effects", "Pooled estimates.")]


def _register_fields(html: str) -> dict[str, tuple[list[str], list[str]]]:
    """register -> (fields used, fields dropped on arrival), from the municipal data table."""
    out = {}
    for name in REGISTERS:
        used, dropped = re.search(rf"<tr><td>{name}</td>(?:<td>.*?</td>){{2}}<td>(.*?)</td><td>(.*?)</td></tr>", html).groups()
        out[name] = (used.split(", ") if used else [], dropped.split(", ") if dropped else [])
    return out


def test_inventory_names_every_source_purpose_retention_and_the_ten_person_rule():
    html = inventory_html(ENTRIES, retention_days=45)
    for name in [*REGISTERS, *CBS_TABLES]:
        assert f"<td>{name}</td>" in html
    assert "minstens 10 personen" in html and "at least 10 people" in html
    assert "45 dagen" in html and "45 days" in html
    assert "panel/linked_panel" in html
    assert 'lang="nl"' in html


def test_case_numbers_free_text_and_bsn_are_shown_as_dropped_not_used():
    fields = _register_fields(inventory_html(ENTRIES, retention_days=30))
    for name, (used, dropped) in fields.items():
        assert not set(used) & set(DROPPED_AT_INGESTION), name
        assert "BSN" in dropped and sorted(used + dropped) == sorted(REGISTERS[name].columns)
    assert "DOSSIERNUMMER" in fields["bijstand"][1] and "VOORZIENING_OMSCHRIJVING" in fields["reintegratie"][1]


def test_fields_shown_as_used_are_exactly_what_ingestion_keeps(tmp_path):
    """Ingestion keeps the contract's columns it uses in the quarantine table: compare with the inventory."""
    fields = _register_fields(inventory_html(ENTRIES, retention_days=30))
    bsn = synthetic_bsns(1)[0]
    for name, layout in REGISTERS.items():
        row = ";".join({"BSN": bsn, "INGANGSDATUM": "01-01-2020", "EINDDATUM": ""}.get(c, "X") for c in layout.columns)
        path = write_extract(tmp_path, "GM0599", name, [";".join(layout.columns), row])
        result = ingest_register(path, layout, "GM0599", PseudonymKey(DEMO_KEY))
        kept = [c for c in result.quarantine.columns if c in layout.columns]
        assert sorted(kept) == sorted(fields[name][0]), name


def test_table_of_assets_is_in_dutch_and_english_and_says_who_sees_each():
    html = inventory_html(ENTRIES, retention_days=30)
    rows = re.findall(r"<tr><td>([^<]*)</td><td><code>([^<]+)</code></td><td>([^<]*)</td><td>([^<]*)</td><td>([^<]*)</td></tr>",
                      html)
    assert {r[1] for r in rows} == {e.key for e in ENTRIES}
    for step, key, dutch, english, who in rows:
        assert " / " in step and dutch and english and dutch != english
        assert who.startswith("Gepubliceerd" if key in PUBLISHED else "Intern")
    assert "Eén regel per persoon per maand" in html
    with pytest.raises(ValueError, match="no Dutch description"):
        dutch_description("reports/something_new")


def test_data_quality_reports_are_said_to_be_internal_and_unpublished():
    html = inventory_html(ENTRIES, retention_days=30)
    assert set(INTERNAL_REPORTS) == {"reports/data_quality", "reports/g4_data_quality"}
    assert not set(INTERNAL_REPORTS) & set(PUBLISHED)
    assert "interne werkdocumenten voor de data-engineers" in html and "worden niet gepubliceerd" in html
    assert "internal working documents for the data engineers" in html and "are not published" in html
    for key in INTERNAL_REPORTS:
        assert f"<code>{key}</code>" in html.split("Wie ziet wat")[0]


def test_retention_of_the_coded_data_is_concrete():
    html = inventory_html(ENTRIES, retention_days=30)
    assert "only the latest delivery is kept" in html and "nieuwste levering" in html
    assert "not deleted automatically after a fixed period" in html
    assert "when the secret key is replaced" in html
    assert "a file not yet processed stays" in html
