"""The Dagster UI in a real headless Chromium: groups, the four partitions, a check result.

The webserver runs on localhost with an instance of its own in which one register partition was
materialised. A screenshot of each page goes to test-artifacts/ for people to look at. Without
Chromium the test is skipped on a workstation, but fails under CI (CI set), so CI always tests the UI.
"""

import importlib.util
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from types import SimpleNamespace

import pytest

from wi_pipeline_tests.helpers import synthetic_bsns, write_extract

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]

GROUPS = ("registers", "cbs", "linkage", "panel", "effects", "reports")
CHECKS = ("extract_readable", "gx_suite", "no_identifiers")


def _under_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


@pytest.fixture(scope="module", autouse=True)
def browser_available():
    """Runs before the webserver starts, so a missing browser is reported at once."""
    missing = [
        what
        for what, ok in (
            ("Chromium at " + CHROMIUM, Path(CHROMIUM).exists()),
            ("the playwright package", importlib.util.find_spec("playwright") is not None),
        )
        if not ok
    ]
    if not missing:
        return
    message = f"{' and '.join(missing)} not found (make test installs Chromium: Debian package 'chromium')"
    if _under_ci():
        pytest.fail(f"CI must run the UI test: {message}")
    pytest.skip(message)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def webserver(tmp_path_factory):
    base = tmp_path_factory.mktemp("ui")
    home, landing, warehouse = base / "dagster_home", base / "landing", base / "warehouse"
    home.mkdir()
    shutil.copy(REPO / "dagster_home" / "dagster.yaml", home / "dagster.yaml")
    b = synthetic_bsns(3)
    write_extract(
        landing,
        "GM0599",
        "bijstand",
        ["BSN;DOSSIERNUMMER;REGELING;INGANGSDATUM;EINDDATUM"]
        + [f"{x};D{i};PW;01-01-2020;" for i, x in enumerate(b)],
    )
    env = {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "WI_LANDING_DIR": str(landing),
        "WI_WAREHOUSE_DIR": str(warehouse),
        "GX_ANALYTICS_ENABLED": "false",
    }
    env.pop("WI_PSEUDONYM_KEY", None)
    materialise = (
        "from dagster import AssetKey, DagsterInstance\n"
        "from wi_pipeline.definitions import defs\n"
        "job = defs.resolve_implicit_global_asset_job_def()\n"
        "r = job.execute_in_process(instance=DagsterInstance.get(), partition_key='GM0599',"
        " asset_selection=[AssetKey(['registers','bijstand']), "
        "AssetKey(['registers','bijstand_quarantine'])])\n"
        "assert r.success\n"
        "print('RUN_ID', r.run_id)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", materialise],
        env=env,
        cwd=REPO,
        check=True,
        capture_output=True,
        text=True,
        timeout=180,
    )
    [run_id] = [line.split()[1] for line in done.stdout.splitlines() if line.startswith("RUN_ID ")]
    port = _free_port()
    log = open(base / "webserver.log", "w")
    proc = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "dagster-webserver"),
            "-w",
            "workspace.yaml",
            "-h",
            "127.0.0.1",
            "-p",
            str(port),
        ],
        env=env,
        cwd=REPO,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 120
    while time.time() < deadline:
        try:
            urllib.request.urlopen(url + "/server_info", timeout=2)
            break
        except OSError:
            if proc.poll() is not None:
                raise RuntimeError((base / "webserver.log").read_text()[-3000:]) from None
            time.sleep(1)
    else:
        proc.kill()
        raise RuntimeError("dagster-webserver did not answer within 120 s")
    yield SimpleNamespace(
        url=url, run_id=run_id
    )  # run_id: the run that materialised partition GM0599
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()


@pytest.fixture(scope="module")
def page(webserver):
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        pg = browser.new_page(viewport={"width": 1600, "height": 1000})
        pg.set_default_timeout(60_000)
        yield pg
        browser.close()


def test_asset_graph_shows_the_groups(page, webserver):
    page.goto(webserver.url + "/asset-groups")
    for group in GROUPS:
        page.get_by_text(group, exact=True).first.wait_for()
    page.screenshot(path=str(ARTIFACTS / "ui_asset_groups.png"), full_page=True)


def test_register_asset_lists_the_four_partitions(page, webserver):
    page.goto(webserver.url + "/assets/registers/bijstand?view=partitions")
    for gm in ("GM0363", "GM0599", "GM0518", "GM0344"):
        page.get_by_text(gm).first.wait_for()
    page.screenshot(path=str(ARTIFACTS / "ui_bijstand_partitions.png"), full_page=True)


@pytest.mark.parametrize("check", CHECKS)
def test_check_result_of_the_materialised_partition_is_visible(page, webserver, check):
    """The check's own latest execution says Passed and links to the run that materialised GM0599."""
    page.goto(webserver.url + f"/assets/registers/bijstand?view=checks&checkDetail={check}")
    latest = (
        page.locator("div")
        .filter(has=page.get_by_text("Latest execution", exact=True))
        .filter(has=page.get_by_text("Evaluation result", exact=True))
        .last
    )  # the innermost block holding both: the selected check's latest execution
    latest.get_by_text("Passed", exact=True).wait_for()
    latest.locator(f'a[href^="/runs/{webserver.run_id}"]').wait_for()
    page.get_by_text(check, exact=True).first.wait_for()
    page.screenshot(path=str(ARTIFACTS / f"ui_bijstand_check_{check}.png"), full_page=True)
