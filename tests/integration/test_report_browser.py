"""Reports opened in a real headless Chromium (Debian's package, driven by playwright).

The page must load with no console error and no network request, show its charts, and
leave a screenshot under test-artifacts/ for a human to look at.
"""

from __future__ import annotations

import importlib.util
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from playwright.sync_api import sync_playwright

from chaosrun.report.history import build_history
from chaosrun.report.history_html import render_history
from chaosrun.report.html import render_run
from chaosrun.report.journal import load_journal

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = os.environ.get("CHAOSRUN_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def _journals_module():
    spec = importlib.util.spec_from_file_location(
        "report_journals", ROOT / "tests/unit/report_journals.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


rj = _journals_module()


@dataclass
class PageVisit:
    title: str
    console: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    svgs: int = 0
    text: str = ""


def open_in_chromium(html_file: Path, screenshot: Path) -> PageVisit:
    """Open a report file, record console messages, page errors and every request."""
    assert Path(CHROMIUM).exists(), f"{CHROMIUM} is missing: run scripts/setup.sh"
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1024, "height": 800})
            seen = PageVisit(title="")
            page.on("console", lambda m: seen.console.append(f"{m.type}: {m.text}"))
            page.on("pageerror", lambda exc: seen.errors.append(str(exc)))
            page.on("request", lambda r: seen.requests.append(r.url))
            # Nothing may leave the file; anything that tries is recorded above and dropped.
            page.route(
                "**/*",
                lambda route: (
                    route.continue_() if route.request.url.startswith("file:") else route.abort()
                ),
            )
            page.goto(html_file.as_uri(), wait_until="load")
            page.wait_for_timeout(300)  # let any late fetch or error surface
            seen.title = page.title()
            seen.svgs = page.locator("svg.chart").count()
            seen.text = page.inner_text("body")
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(screenshot), full_page=True)
        finally:
            browser.close()
    return seen


def assert_clean(visit: PageVisit, html_file: Path) -> None:
    assert visit.console == [], visit.console
    assert visit.errors == [], visit.errors
    assert visit.requests == [html_file.as_uri()], visit.requests


@pytest.mark.parametrize("status", ["aborted", "passed"])
def test_hostile_run_report_is_inert_in_chromium(tmp_path, status):
    data = rj.journal(status, hostile=True)
    html_file = tmp_path / "report.html"
    html_file.write_text(render_run(data), encoding="utf-8")
    shot = ARTIFACTS / f"report-hostile-{status}.png"
    visit = open_in_chromium(html_file, shot)
    assert_clean(visit, html_file)
    assert visit.title.startswith('chaosrun: Kill <script>document.title="pwned"</script>')
    assert visit.svgs == 3  # timeline + one chart per probe
    assert rj.IMG in visit.text and rj.SCRIPT in visit.text  # shown as text
    assert shot.stat().st_size > 10_000


def test_drill_report_in_chromium(tmp_path):
    html_file = tmp_path / "drill.html"
    html_file.write_text(render_run(rj.drill(hostile=True)), encoding="utf-8")
    visit = open_in_chromium(html_file, ARTIFACTS / "report-drill.png")
    assert_clean(visit, html_file)
    assert "Runbook steps" in visit.text and "Restart the unit" in visit.text
    assert f"Page {rj.SCRIPT}" in visit.text


def test_history_report_in_chromium(tmp_path):
    runs = tmp_path / "runs"
    for i, status in enumerate(["failed", "aborted", "passed", "passed", "passed"], start=1):
        data = rj.journal(status if status != "passed" else "passed", hostile=True)
        data.update(run_id=f"r{i}", started_at=f"2026-11-0{i}T10:00:00.000Z")
        (runs / f"r{i}").mkdir(parents=True)
        (runs / f"r{i}" / "journal.json").write_text(json.dumps(data))
    html_file = tmp_path / "history.html"
    html_file.write_text(render_history(build_history(runs)), encoding="utf-8")
    visit = open_in_chromium(html_file, ARTIFACTS / "history.png")
    assert_clean(visit, html_file)
    assert visit.svgs == 1 and "Resilience score: 60 / 100" in visit.text


# Journals written by the engine during real runs on the lab (paths made relative).
CAPTURED = sorted((ROOT / "tests/unit/fixtures/report").glob("lab-*.json"))


@pytest.mark.parametrize("path", CAPTURED, ids=[p.stem for p in CAPTURED])
def test_captured_lab_journal_in_chromium(tmp_path, path):
    journal = load_journal(path)
    html_file = tmp_path / "report.html"
    html_file.write_text(render_run(journal), encoding="utf-8")
    visit = open_in_chromium(html_file, ARTIFACTS / f"report-{path.stem}.png")
    assert_clean(visit, html_file)
    assert visit.svgs == 1 + len(journal["probes"])
    assert journal["abort"]["reason"] in visit.text
    assert all(h in visit.text for h in journal["targets"]["selected"])
