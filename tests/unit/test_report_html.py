"""The HTML report: self-contained, escaped, with the charts and marks a reader needs."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest
import report_journals as rj

from chaosrun.report.html import render_run

ALLOWED_TAGS = {
    "html", "head", "meta", "title", "style", "body", "footer", "h1", "h2", "h3", "p", "div",
    "span", "strong", "br", "dl", "dt", "dd", "pre", "code", "table", "thead", "tbody", "tr",
    "th", "td", "i", "svg", "rect", "line", "circle", "polyline", "text",
}  # fmt: skip


class Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text.append(data)


def parse(html: str) -> Tags:
    parser = Tags()
    parser.feed(html)
    return parser


@pytest.mark.parametrize("make", [lambda: rj.journal("aborted", True), lambda: rj.drill(True)])
def test_hostile_strings_render_as_text_not_markup(make):
    html = render_run(make())
    page = parse(html)
    names = {t for t, _ in page.tags}
    assert names <= ALLOWED_TAGS, names - ALLOWED_TAGS
    for tag, attrs in page.tags:
        assert not any(a.startswith("on") for a in attrs), (tag, attrs)
        assert "src" not in attrs and "href" not in attrs, (tag, attrs)
    text = "".join(page.text)
    assert rj.SCRIPT in text  # shown to the reader, literally
    assert "&lt;script&gt;" in html and "<script" not in html.lower()
    assert "<img" not in html.lower()


def test_no_reference_to_anything_outside_the_file():
    html = render_run(rj.journal("aborted", True))
    metas = [a for t, a in parse(html).tags if t == "meta" and a.get("http-equiv")]
    assert metas and "default-src 'none'" in metas[0]["content"]
    style = html[html.index("<style>") : html.index("</style>")]
    assert "url(" not in style and "@import" not in style


def test_secrets_in_vars_and_overrides_are_redacted():
    html = render_run(rj.journal("passed"))
    assert "hunter2-secret" not in html and "tok-123456" not in html
    assert "order-service" in html  # ordinary vars stay visible


def test_aborted_run_shows_banner_reason_bands_and_a_chart_per_probe():
    html = render_run(rj.journal("aborted"))
    page = parse(html)
    svgs = [a for t, a in page.tags if t == "svg"]
    assert len(svgs) == 1 + 2  # the timeline and one chart per probe
    classes = [a.get("class") for _, a in page.tags]
    assert "banner status-aborted" in classes
    assert classes.count("threshold") == 2
    assert classes.count("band-fault") == 3 and classes.count("band-rollback") == 3
    assert classes.count("abort") == 3
    assert "breached 2 times in a row" in html
    assert "3.2 s" in html  # time to recover


def test_passed_run_has_no_abort_and_marks_recovery():
    html = render_run(rj.journal("passed"))
    classes = [a.get("class") for _, a in parse(html).tags]
    assert "banner status-passed" in classes
    assert "abort" not in classes and "abort-reason" not in classes
    assert "recovered" in classes


def test_drill_lists_runbook_steps():
    html = render_run(rj.drill())
    assert "Runbook steps" in html and "Acknowledge the page" in html and "1.5 s" in html


def test_partial_journal_of_a_running_run_renders():
    data = rj.journal("passed")
    data.update(status="running", ended_at=None, recovery=None, rollback=None, abort=None)
    data["phases"] = data["phases"][:5]
    data["phases"][-1].update(ended_at=None, outcome="running")
    html = render_run(data)
    assert "RUNNING" in html and html.count("<svg") == 3


def test_unknown_status_never_reaches_a_class_attribute():
    data = rj.journal("passed")
    data["status"] = 'x" onclick="alert(1)'
    html = render_run(data)
    assert 'class="banner status-other"' in html
    assert "onclick=" not in html.replace("onclick=&quot;", "")


def test_relative_threshold_is_drawn_from_the_baseline():
    data = rj.journal("passed")
    data["probes"][1].update(threshold={"max_increase": "100%"}, baseline=0.2)
    html = render_run(data)
    classes = [a.get("class") for _, a in parse(html).tags]
    assert classes.count("baseline") == 1 and classes.count("threshold") == 2
    assert "max 0.4" in html and "baseline 0.2" in html
