"""The pooled G4 assets never pool panels pseudonymised with different keys."""

import json
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from dagster import build_output_context

from wi_pipeline.definitions import make_definitions
from wi_pipeline.defs.io import ParquetIOManager
from wi_pipeline.defs.panel.assets import PANEL_KEY
from wi_pipeline.defs.partitions import g4_partitions
from wi_pipeline.defs.quality.assets import G4_REPORT_KEY
from wi_pipeline.lib.layout import G4, SRG_CATEGORIES
from wi_pipeline.lib.quality_report import INTERNAL_NOTICE


def _panel(fingerprint: str) -> pd.DataFrame:
    n = 12
    df = pd.DataFrame(
        {
            "pseudo_id": [f"p{i % 4}" for i in range(n)],
            "month": pd.date_range("2020-01-01", periods=n, freq="MS"),
            "on_bijstand": True,
            "single_parent": [i % 2 == 0 for i in range(n)],
            "sex": "vrouw",
            "age": 30,
            "bijstand_duration_months": list(range(n)),
            **{f"instr_{c}": False for c in SRG_CATEGORIES},
        }
    )
    df.attrs["key_fingerprint"] = fingerprint
    return df


def _store_panels(base, fingerprints: dict[str, str]) -> ParquetIOManager:
    """Panels as stored files. A warehouse that mixes keys cannot be written through the IO manager any
    more (it refuses a second key); the files of one, copied together or kept from before that guard,
    are written here directly, in the IO manager's format, so the pooled assets' own check is tested."""
    for gm, fp in fingerprints.items():
        df = _panel(fp)
        table = pa.Table.from_pandas(df, preserve_index=False)
        table = table.replace_schema_metadata(
            {**(table.schema.metadata or {}), b"wi_attrs": json.dumps(df.attrs).encode()}
        )
        path = Path(base).joinpath(*PANEL_KEY.path, f"{gm}.parquet")
        path.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(table, path)
    return ParquetIOManager(base_dir=str(base))


def _materialise(io):
    job = make_definitions({"io_manager": io}).resolve_implicit_global_asset_job_def()
    return job.execute_in_process(asset_selection=[G4_REPORT_KEY], raise_on_error=False)


def test_panels_made_with_one_key_are_pooled_and_the_report_is_marked_internal(tmp_path):
    result = _materialise(_store_panels(tmp_path, {gm: "aaaaaaaaaaaa" for gm in G4}))
    assert result.success
    [event] = [e for e in result.get_asset_materialization_events() if e.asset_key == G4_REPORT_KEY]
    assert event.materialization.metadata["key_fingerprint"].value == "aaaaaaaaaaaa"
    assert (tmp_path / "reports" / "g4_data_quality.md").read_text().startswith(INTERNAL_NOTICE)


def test_panels_made_with_different_keys_are_refused(tmp_path):
    fingerprints = {gm: "aaaaaaaaaaaa" for gm in G4} | {"GM0344": "bbbbbbbbbbbb"}
    result = _materialise(_store_panels(tmp_path, fingerprints))
    assert not result.success
    [failure] = [e for e in result.all_events if e.is_step_failure]
    message = failure.step_failure_data.error.to_string()
    assert "different keys" in message and "bbbbbbbbbbbb" in message and "GM0344" in message
    assert not (tmp_path / "reports" / "g4_data_quality.md").exists()


def test_pooled_effects_refuse_panels_made_with_different_keys(tmp_path):
    from wi_pipeline.defs.effects.assets import G4_KEY, TABLE_KEY
    from wi_pipeline.lib.effects import EFFECT_COLUMNS

    io = _store_panels(tmp_path, {gm: "aaaaaaaaaaaa" for gm in G4} | {"GM0599": "bbbbbbbbbbbb"})
    for gm in G4:
        io.handle_output(
            build_output_context(
                asset_key=TABLE_KEY, partition_key=gm, asset_partitions_def=g4_partitions
            ),
            pd.DataFrame(columns=EFFECT_COLUMNS),
        )
    job = make_definitions({"io_manager": io}).resolve_implicit_global_asset_job_def()
    result = job.execute_in_process(asset_selection=[G4_KEY], raise_on_error=False)
    assert not result.success
    [failure] = [e for e in result.all_events if e.is_step_failure]
    message = failure.step_failure_data.error.to_string()
    assert "different keys" in message and "bbbbbbbbbbbb" in message and "GM0599" in message
    assert not (tmp_path / "effects" / "effect_table_g4.parquet").exists()
