from pathlib import Path

from wi_pipeline.lib.contract_doc import landing_contract_markdown

README = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")


def test_readme_carries_the_current_landing_contract():
    section = README.split("<!-- contract:start -->")[1].split("<!-- contract:end -->")[0]
    assert section.strip() == landing_contract_markdown().strip(), (
        "regenerate: python -m wi_pipeline.lib.contract_doc"
    )


def test_readme_has_exactly_the_two_setup_commands():
    block = README.split("```bash")[1].split("```")[0]
    commands = [line.split("#")[0].strip() for line in block.strip().splitlines()]
    assert commands == ["make run", "make test"]
