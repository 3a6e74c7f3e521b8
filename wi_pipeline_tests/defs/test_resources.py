"""The pseudonymisation key never shows when the resource or the key object is printed."""

from dagster import EnvVar, asset, materialize

from wi_pipeline.defs.resources import PseudonymisationKey
from wi_pipeline.lib.pseudonymise import KEY_ENV_VAR

SECRET = "resource-secret-" + "k" * 32


def test_key_resource_hides_the_secret_in_repr_and_str():
    resource = PseudonymisationKey(secret=SECRET)
    for text in (repr(resource), str(resource), repr(resource.get()), str(resource.get())):
        assert SECRET not in text
    assert "PseudonymisationKey" in repr(resource)
    assert resource.get().fingerprint in repr(resource.get())


def test_key_resource_read_from_the_environment_hides_it_inside_a_run(monkeypatch):
    monkeypatch.setenv(KEY_ENV_VAR, SECRET)
    seen = []

    @asset
    def shows_resource(pseudonym_key: PseudonymisationKey) -> None:
        seen.extend([repr(pseudonym_key), str(pseudonym_key), repr(pseudonym_key.get())])
        assert pseudonym_key.secret == SECRET  # resolved from the environment, yet not printed

    assert materialize(
        [shows_resource],
        resources={"pseudonym_key": PseudonymisationKey(secret=EnvVar(KEY_ENV_VAR))},
    ).success
    assert seen and not any(SECRET in text for text in seen)
