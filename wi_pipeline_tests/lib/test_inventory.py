import re

from wi_pipeline.lib.inventory import AssetEntry, inventory_html
from wi_pipeline.lib.layout import CBS_TABLES, REGISTERS


def test_inventory_names_every_source_purpose_retention_and_the_ten_person_rule():
    html = inventory_html([AssetEntry("panel/linked_panel", "panel", "One row per person per month")], retention_days=45)
    for name in [*REGISTERS, *CBS_TABLES]:
        assert f"<td>{name}</td>" in html
    assert "minstens 10 personen" in html and "at least 10 people" in html
    assert "45 dagen" in html and "45 days" in html
    assert "panel/linked_panel" in html
    assert 'lang="nl"' in html
    # the BSN itself is never listed as a field used
    fields = re.findall(r"<td>([A-Z_, ]+)</td></tr>", html)
    assert fields and all("BSN" not in f.split(", ") for f in fields)
