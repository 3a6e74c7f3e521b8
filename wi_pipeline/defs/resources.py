import os
from pathlib import Path

from dagster import ConfigurableResource, EnvVar
from pydantic import Field

from wi_pipeline.lib.pseudonymise import DEMO_KEY, KEY_ENV_VAR, PseudonymKey, check_warehouse_key
from wi_pipeline.paths import default_landing_dir, warehouse_dir


class LandingFolder(ConfigurableResource):
    """Where municipalities drop extracts: <path>/<GM code>/<register>/<YYYYMMDD>.csv and <path>/CBS/."""

    path: str

    @property
    def root(self) -> Path:
        return Path(self.path)


class PseudonymisationKey(ConfigurableResource):
    """The project's HMAC key, from the environment only; unset means the synthetic-only demo key.

    With ``warehouse`` set, a key other than the one that warehouse was built with is refused on ``get``,
    so an ingestion (or the landing sensor) stops before it reads an extract, let alone writes."""

    # repr=False: pydantic builds repr and str from the fields; a resource printed in a log
    # or traceback must not show it.
    secret: str | None = Field(default=None, repr=False)
    warehouse: str | None = None

    def get(self) -> PseudonymKey:
        key = PseudonymKey(self.secret or DEMO_KEY)
        if self.warehouse:
            check_warehouse_key(Path(self.warehouse), key.fingerprint)
        return key


def default_resources() -> dict:
    landing = os.environ.get("WI_LANDING_DIR", str(default_landing_dir()))
    warehouse = str(warehouse_dir())
    key = (
        PseudonymisationKey(secret=EnvVar(KEY_ENV_VAR), warehouse=warehouse)
        if os.environ.get(KEY_ENV_VAR)
        else PseudonymisationKey(warehouse=warehouse)
    )
    return {"landing": LandingFolder(path=landing), "pseudonym_key": key}
