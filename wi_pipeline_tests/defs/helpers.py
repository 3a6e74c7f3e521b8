"""Materialising one register or CBS asset against a landing folder, and the malformed extracts that
the register and data-quality-report tests feed it."""

from dagster import AssetKey, materialize

from wi_pipeline.defs.cbs.assets import cbs_assets
from wi_pipeline.defs.io import ParquetIOManager
from wi_pipeline.defs.registers.assets import register_assets
from wi_pipeline.defs.resources import LandingFolder, PseudonymisationKey

GM = "GM0599"
BSN = "999993653"  # valid and in the synthetic range
HEADER = "BSN;DOSSIERNUMMER;REGELING;INGANGSDATUM;EINDDATUM"
BIJSTAND = next(a for a in register_assets if AssetKey(["registers", "bijstand"]) in a.keys)
SECMBUS = next(a for a in cbs_assets if AssetKey(["cbs", "secmbus"]) in a.keys)
KOPPELTABEL = next(a for a in cbs_assets if AssetKey(["cbs", "koppeltabel"]) in a.keys)


def resources(landing, warehouse) -> dict:
    return {
        "landing": LandingFolder(path=str(landing)),
        "pseudonym_key": PseudonymisationKey(),
        "io_manager": ParquetIOManager(base_dir=str(warehouse)),
    }


def run(asset, landing, warehouse, instance, partition=None):
    return materialize(
        [asset],
        resources=resources(landing, warehouse),
        instance=instance,
        partition_key=partition,
        raise_on_error=False,
    )


BAD_EXTRACTS = {
    "missing column": (
        ["BSN;REGELING;INGANGSDATUM;EINDDATUM", f"{BSN};PW;01-02-2020;"],
        "missing column(s) DOSSIERNUMMER",
    ),
    "wrong delimiter": (
        [HEADER.replace(";", "\t"), f"{BSN}\tD1\tPW\t01-02-2020\t"],
        "separated by tabs",
    ),
    "no header row": ([f"{BSN};D1;PW;01-02-2020;", f"{BSN};D2;PW;01-03-2020;"], "not a header"),
    "duplicate column": (
        [HEADER + ";BSN", f"{BSN};D1;PW;01-02-2020;;{BSN}"],
        "BSN appear more than once",
    ),
    "dates in another format": (
        [HEADER] + [f"{BSN};D{i};PW;2020-02-{i + 1:02d};" for i in range(20)],
        "expected date format dd-mm-yyyy",
    ),
}
