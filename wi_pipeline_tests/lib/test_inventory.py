import re
from html import unescape as html_unescape

import pytest

from wi_pipeline.lib.ingest import ingest_register
from wi_pipeline.lib.inventory import (
    DROPPED_AT_INGESTION,
    INTERNAL_REPORTS,
    PUBLISHED,
    PURPOSE,
    AssetEntry,
    dutch_description,
    inventory_html,
)
from wi_pipeline.lib.layout import CBS_TABLES, REGISTERS
from wi_pipeline.lib.pseudonymise import DEMO_KEY, PseudonymKey
from wi_pipeline_tests.helpers import (
    read_inventory,
    render_in_chromium,
    synthetic_bsns,
    write_extract,
)

ENTRIES = [
    AssetEntry("panel/linked_panel", "panel", "One row per person per month"),
    AssetEntry("registers/bijstand", "registers", "Social assistance benefits."),
    AssetEntry("reports/data_quality", "reports", "Data-quality report of one municipality."),
    AssetEntry("reports/g4_data_quality", "reports", "Are the four cities comparable?"),
    AssetEntry("effects/effect_table_g4", "effects", "Pooled estimates."),
]


def _render(*args, **kwargs) -> str:
    """The page with its line breaks and indentation collapsed, as a reader sees the text."""
    return " ".join(inventory_html(*args, **kwargs).split())


def test_inventory_names_every_source_purpose_retention_and_the_ten_person_rule():
    html = _render(ENTRIES, retention_days=45)
    facts = read_inventory(html)
    assert list(facts["registers"]) == list(REGISTERS) and list(facts["cbs"]) == list(CBS_TABLES)
    for name, row in [
        *zip(REGISTERS, facts["sections"]["Gegevens van de gemeente"]),
        *zip(CBS_TABLES, facts["sections"]["Gegevens van het CBS"]),
    ]:
        assert [html_unescape(c) for c in row[1:3]] == list(PURPOSE[name]), name  # why, nl and en
    assert facts["retention_days"] == ([45], [45])
    everyone = facts["sections"]["Wie ziet wat"][-1][1]
    assert "minstens 10 personen" in everyone and "at least 10 people" in everyone
    assert set(facts["internal"]) == {e.key for e in ENTRIES} - set(PUBLISHED)
    assert 'lang="nl"' in html


def test_case_numbers_free_text_and_bsn_are_shown_as_dropped_not_used():
    fields = read_inventory(_render(ENTRIES, retention_days=30))["registers"]
    for name, (used, dropped) in fields.items():
        assert not set(used) & set(DROPPED_AT_INGESTION), name
        assert "BSN" in dropped and sorted(used + dropped) == sorted(REGISTERS[name].columns)
    assert (
        "DOSSIERNUMMER" in fields["bijstand"][1]
        and "VOORZIENING_OMSCHRIJVING" in fields["reintegratie"][1]
    )


def test_fields_shown_as_used_are_exactly_what_ingestion_keeps(tmp_path):
    """Ingestion keeps the contract's columns it uses in the quarantine table: compare with the inventory."""
    fields = read_inventory(_render(ENTRIES, retention_days=30))["registers"]
    bsn = synthetic_bsns(1)[0]
    for name, layout in REGISTERS.items():
        row = ";".join(
            {"BSN": bsn, "INGANGSDATUM": "01-01-2020", "EINDDATUM": ""}.get(c, "X")
            for c in layout.columns
        )
        path = write_extract(tmp_path, "GM0599", name, [";".join(layout.columns), row])
        result = ingest_register(path, layout, "GM0599", PseudonymKey(DEMO_KEY))
        kept = [c for c in result.quarantine.columns if c in layout.columns]
        assert sorted(kept) == sorted(fields[name][0]), name


def test_table_of_assets_is_in_dutch_and_english_and_says_who_sees_each():
    html = _render(ENTRIES, retention_days=30)
    rows = re.findall(
        r"<tr><td>([^<]*)</td><td><code>([^<]+)</code></td><td>([^<]*)</td><td>([^<]*)</td><td>([^<]*)</td></tr>",
        html,
    )
    assert {r[1] for r in rows} == {e.key for e in ENTRIES}
    for step, key, dutch, english, who in rows:
        assert " / " in step and dutch and english and dutch != english
        assert who.startswith("Gepubliceerd" if key in PUBLISHED else "Intern")
    assert "Eén regel per persoon per maand" in html
    with pytest.raises(ValueError, match="no Dutch description"):
        dutch_description("reports/something_new")


def test_data_quality_reports_are_said_to_be_internal_and_unpublished():
    html = _render(ENTRIES, retention_days=30)
    assert set(INTERNAL_REPORTS) == {"reports/data_quality", "reports/g4_data_quality"}
    assert not set(INTERNAL_REPORTS) & set(PUBLISHED)
    assert (
        "interne werkdocumenten voor de data-engineers" in html
        and "worden niet gepubliceerd" in html
    )
    assert (
        "internal working documents for the data engineers" in html and "are not published" in html
    )
    for key in INTERNAL_REPORTS:
        assert f"<code>{key}</code>" in html.split("Wie ziet wat")[0]


def test_retention_of_the_coded_data_is_concrete():
    html = _render(ENTRIES, retention_days=30)
    assert "only the latest delivery is kept" in html and "nieuwste levering" in html
    assert "not deleted automatically after a fixed period" in html
    assert "when the secret key is replaced" in html
    assert "a file not yet processed stays" in html


def test_every_field_has_a_plain_name_with_its_code_and_the_key_file_shows_the_bsn():
    html = _render(ENTRIES, retention_days=30)
    assert read_inventory(html)["cbs"] == {
        name: list(layout.columns) for name, layout in CBS_TABLES.items()
    }  # the key file's BSN and RINPERSOON included
    assert (
        "geslacht (GBAGESLACHT)" in html
        and "employer number (SBEID)" in html
        and "job number (IKVID)" in html
    )
    assert "burgerservicenummer, direct vervangen door een code (BSN)" in html
    assert "geboortedatum (jaar, maand en dag" in html and "geboortejaar en herkomst" not in html


def test_published_outputs_and_internal_steps_are_separate_tables():
    html = _render(ENTRIES, retention_days=30)
    published = html.split("<h2>Wat naar buiten gaat")[1].split("<h2>Interne tussenstappen")[0]
    internal = html.split("<h2>Interne tussenstappen")[1]
    assert (
        "<code>effects/effect_table_g4</code>" in published
        and "<code>panel/linked_panel</code>" not in published
    )
    assert (
        "<code>panel/linked_panel</code>" in internal
        and "<code>effects/effect_table_g4</code>" not in internal
    )


def test_a_council_member_finds_who_is_responsible_the_legal_basis_how_to_object_and_the_date():
    from datetime import date

    html = _render(ENTRIES, retention_days=30, as_of=date(2026, 12, 1))
    assert "1 december 2026" in html
    assert (
        "Het college van burgemeester en wethouders" in html
        and "functionaris gegevensbescherming" in html
    )
    assert (
        "AVG artikel 6 lid 1 onder e" in html
        and "bezwaar" in html
        and "GDPR articles 15 and 21" in html
    )
    # the cities as people say them, joined with "en" / "and"
    assert (
        "Amsterdam, Rotterdam, Den Haag en Utrecht" in html
        and "Rotterdam, The Hague and Utrecht" in html
    )
    assert "s-Gravenhage" not in html
    # formal "u" throughout, never "je"/"jij"
    text = re.sub(r"<[^>]+>", " ", html)
    assert not re.search(r"\b(je|jij|jouw)\b", text, flags=re.IGNORECASE)
    # no promise that nobody ever looks at one person's data: it says what engineers see, and why
    assert "We never look at one person" not in html and "What data engineers see" in html


def test_deletion_is_what_the_nightly_schedule_does():
    from wi_pipeline.definitions import defs

    html = _render(ENTRIES, retention_days=30)
    assert "a task that runs every night removes them" in html
    schedule = next(s for s in defs.schedules if s.name == "retention_nightly")
    assert schedule.cron_schedule == "0 3 * * *" and schedule.job_name == "retention_purge"
    assert schedule.default_status.value == "RUNNING"


def test_the_inventory_renders_in_a_browser(tmp_path):
    from wi_pipeline.definitions import assets

    entries = [
        AssetEntry(spec.key.to_user_string(), spec.group_name or "", spec.description or "")
        for a in assets
        for spec in a.specs
    ]
    dom = render_in_chromium(inventory_html(entries, retention_days=30), "data_inventory", tmp_path)
    assert "Welke gegevens gebruiken we" in dom and "Wat naar buiten gaat" in dom


def test_an_asset_description_is_shown_as_text_never_as_markup():
    entry = AssetEntry("reports/data_inventory", "reports", "Groups <10 & <script>x</script>")
    html = _render([entry], retention_days=30)
    assert "<script>" not in html
    assert "<td>Groups &lt;10 &amp; &lt;script&gt;x&lt;/script&gt;</td>" in html
