"""The Dagster UI in a real headless Chromium: groups, the four partitions, a check result.

The webserver runs on localhost with an instance of its own in which one register partition was
materialised. A screenshot of each page goes to test-artifacts/ for people to look at.
"""

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from wi_pipeline_tests.helpers import synthetic_bsns, write_extract

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"]

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists() and not os.environ.get("CI"),
                                reason="Chromium is not installed (make test installs it: Debian package 'chromium')")


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
    write_extract(landing, "GM0599", "bijstand",
                  ["BSN;DOSSIERNUMMER;REGELING;INGANGSDATUM;EINDDATUM"] + [f"{x};D{i};PW;01-01-2020;" for i, x in enumerate(b)])
    env = {**os.environ, "DAGSTER_HOME": str(home), "WI_LANDING_DIR": str(landing), "WI_WAREHOUSE_DIR": str(warehouse),
           "GX_ANALYTICS_ENABLED": "false"}
    env.pop("WI_PSEUDONYM_KEY", None)
    materialise = (
        "from dagster import AssetKey, DagsterInstance\n"
        "from wi_pipeline.definitions import defs\n"
        "job = defs.resolve_implicit_global_asset_job_def()\n"
        "r = job.execute_in_process(instance=DagsterInstance.get(), partition_key='GM0599',"
        " asset_selection=[AssetKey(['registers','bijstand']), AssetKey(['registers','bijstand_quarantine'])])\n"
        "assert r.success\n"
    )
    subprocess.run([sys.executable, "-c", materialise], env=env, cwd=REPO, check=True, capture_output=True, timeout=180)
    port = _free_port()
    log = open(base / "webserver.log", "w")
    proc = subprocess.Popen([str(Path(sys.executable).parent / "dagster-webserver"), "-w", "workspace.yaml",
                             "-h", "127.0.0.1", "-p", str(port)], env=env, cwd=REPO, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 120
    while time.time() < deadline:
        try:
            urllib.request.urlopen(url + "/server_info", timeout=2)
            break
        except OSError:
            if proc.poll() is not None:
                raise RuntimeError((base / "webserver.log").read_text()[-3000:])
            time.sleep(1)
    else:
        proc.kill()
        raise RuntimeError("dagster-webserver did not answer within 120 s")
    yield url
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
    page.goto(webserver + "/asset-groups")
    for group in ("registers", "cbs", "linkage", "panel", "reports"):
        page.get_by_text(group, exact=True).first.wait_for()
    page.screenshot(path=str(ARTIFACTS / "ui_asset_groups.png"), full_page=True)


def test_register_asset_lists_the_four_partitions(page, webserver):
    page.goto(webserver + "/assets/registers/bijstand?view=partitions")
    for gm in ("GM0363", "GM0599", "GM0518", "GM0344"):
        page.get_by_text(gm).first.wait_for()
    page.screenshot(path=str(ARTIFACTS / "ui_bijstand_partitions.png"), full_page=True)


def test_check_result_is_visible(page, webserver):
    page.goto(webserver + "/assets/registers/bijstand?view=checks")
    page.get_by_text("extract_readable").first.wait_for()
    page.get_by_text("no_identifiers").first.wait_for()
    page.get_by_text("Passed").first.wait_for()
    page.screenshot(path=str(ARTIFACTS / "ui_bijstand_checks.png"), full_page=True)
