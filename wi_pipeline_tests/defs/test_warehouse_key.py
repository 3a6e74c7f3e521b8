"""A warehouse holds the pseudonyms of one key: a materialisation from the UI, the landing sensor and
`make ui` all say so before anything is written with another key. And a check names its municipality."""

import hashlib

from dagster import AssetKey, DagsterInstance, SkipReason, build_sensor_context, materialize

from wi_pipeline.defs.automation.sensors import landing_folder_sensor
from wi_pipeline.defs.io import ParquetIOManager
from wi_pipeline.defs.registers.assets import register_assets
from wi_pipeline.defs.resources import LandingFolder, PseudonymisationKey
from wi_pipeline.instance import key_warning
from wi_pipeline.lib.pseudonymise import (
    KEY_ENV_VAR,
    WAREHOUSE_KEY_FILE,
    PseudonymKey,
    warehouse_fingerprint,
)

GM = "GM0599"
KEY, OTHER = "warehouse-key-" + "w" * 32, "other-key-" + "o" * 32
BIJSTAND = next(a for a in register_assets if AssetKey(["registers", "bijstand"]) in a.keys)


def ingest(landing, warehouse, key_resource, instance=None):
    return materialize(
        [BIJSTAND],
        partition_key=GM,
        raise_on_error=False,
        instance=instance,
        resources={
            "landing": LandingFolder(path=str(landing)),
            "pseudonym_key": key_resource,
            "io_manager": ParquetIOManager(base_dir=str(warehouse)),
        },
    )


def _state(folder) -> dict:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def test_a_materialisation_with_another_key_is_refused_before_it_writes(landing, tmp_path):
    warehouse = tmp_path / "warehouse"
    first = ingest(landing, warehouse, PseudonymisationKey(secret=KEY, warehouse=str(warehouse)))
    assert first.success and warehouse_fingerprint(warehouse) == PseudonymKey(KEY).fingerprint
    before = _state(warehouse)
    # the UI's resource knows the warehouse: refused before the extract is read, in one message
    refused = ingest(
        landing, warehouse, PseudonymisationKey(secret=OTHER, warehouse=str(warehouse))
    )
    [failure] = [e for e in refused.all_events if e.event_type_value == "STEP_FAILURE"]
    message = failure.event_specific_data.user_failure_data.description
    assert PseudonymKey(KEY).fingerprint in message and PseudonymKey(OTHER).fingerprint in message
    assert KEY not in message and OTHER not in message and "WI_WAREHOUSE_DIR" in message
    # without it, the warehouse itself (its IO manager) refuses the other key's output
    assert not ingest(landing, warehouse, PseudonymisationKey(secret=OTHER)).success
    assert _state(warehouse) == before


def test_every_check_of_a_partition_names_its_municipality(landing, tmp_path):
    instance = DagsterInstance.ephemeral()
    assert ingest(landing, tmp_path / "warehouse", PseudonymisationKey(), instance).success
    checks = [
        e.event_specific_data
        for e in (
            r.dagster_event
            for r in instance.all_logs(instance.get_runs()[0].run_id)
            if r.dagster_event and r.dagster_event.event_type_value == "ASSET_CHECK_EVALUATION"
        )
    ]
    assert {c.check_name for c in checks} == {"extract_readable", "gx_suite", "no_identifiers"}
    for check in checks:
        assert check.metadata["municipality"].value == "GM0599 Rotterdam"
        assert check.description.startswith("Rotterdam (GM0599): ")
    [readable] = [c for c in checks if c.check_name == "extract_readable"]
    assert "GM0599/bijstand/20250115.csv" in readable.description and "rows" in readable.description


def test_the_sensor_starts_nothing_with_another_key_and_says_why(landing, tmp_path):
    warehouse = tmp_path / "warehouse"
    assert ingest(landing, warehouse, PseudonymisationKey(secret=KEY)).success
    (landing / GM / "bijstand" / "20250115.csv.done").touch()

    def tick(secret):
        context = build_sensor_context(
            instance=DagsterInstance.ephemeral(),
            resources={
                "landing": LandingFolder(path=str(landing)),
                "pseudonym_key": PseudonymisationKey(secret=secret, warehouse=str(warehouse)),
            },
        )
        return landing_folder_sensor(context)

    refused = tick(None)  # `make ui` started without the key
    assert isinstance(refused, SkipReason) and PseudonymKey(KEY).fingerprint in refused.skip_message
    assert [r.partition_key for r in tick(KEY).run_requests] == [GM]


def test_make_ui_without_the_key_of_a_real_warehouse_says_so(landing, tmp_path, monkeypatch):
    warehouse = tmp_path / "warehouse"
    assert ingest(landing, warehouse, PseudonymisationKey(secret=KEY)).success
    monkeypatch.delenv(KEY_ENV_VAR, raising=False)
    warning = key_warning(warehouse)
    assert warning and f"{KEY_ENV_VAR} is not set" in warning and "real (non-demo) key" in warning
    assert PseudonymKey(KEY).fingerprint in warning and KEY not in warning
    monkeypatch.setenv(KEY_ENV_VAR, KEY)
    assert key_warning(warehouse) is None
    assert (warehouse / WAREHOUSE_KEY_FILE).exists()
