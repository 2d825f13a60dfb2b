"""The HTML report, opened in a real browser (headless Chromium): the table renders, a click on a
header sorts it, every link resolves, and a screenshot is taken."""
from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from urllib.parse import unquote

import pytest

from competition.html_report import write_html_report

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def row(name: str, score: float, seconds: float) -> dict:
    return {"experiment": name, "data": "fashion", "budget": "smoke", "scheme": "holdout", "n": 600,
            "metric": "macro_f1", "score": score, "low": score - 0.02, "high": score + 0.02, "seeds": 3,
            "gap": 0.01, "eval": score - 0.01, "seconds": seconds, "cached": False, "key": "k" + name,
            "rank": 0}


@pytest.fixture
def report(tmp_path):
    rows = [row("b-model", 0.80, 30), row("a-model", 0.85, 10), row("c+tta:model", 0.75, 20)]
    claims = [{"experiment": "a-model", "other": "b-model", "claim": "beats", "outcome": "pass", "delta": 0.05,
               "low": 0.01, "high": 0.09, "mde": 0.03, "seeds_a": 3, "seeds_b": 3}]
    index = write_html_report(rows, claims, GUARD_FIGURES, tmp_path / "reports")
    return index


GUARD = {"gate": "regression", "experiment": "small_cnn", "seed_sd": 0.004, "detectable": 0.012, "seeds": 3}
GUARD_FIGURES = [
    {**GUARD, "measure": "eval", "new": 0.7753, "baseline": 0.7721, "tolerance": 0.0107, "outcome": "pass"},
    {**GUARD, "measure": "recall[Shirt]", "new": 0.3120, "baseline": 0.5010, "tolerance": 0.0400, "outcome": "fail"},
    {"gate": "fault", "experiment": "labels-misaligned", "kind": "data", "caught": "score, eval", "score": 0.0905},
    {"gate": "aa", "experiment": "small_cnn", "seeds": "100-102", "threads": 1, "failures": 0, "score": 0.78},
]


def table(page: str, name: str) -> list[list[str]]:
    """The cells of each body row of the table with this id."""
    body = re.search(rf'<table id="{name}">.*?<tbody>(.*?)</tbody>', page, re.S).group(1)
    return [[re.sub("<[^>]+>", "", cell) for cell in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]
            for row in re.findall(r"<tr>(.*?)</tr>", body, re.S)]


def test_guards_are_a_table_and_the_planted_faults_stand_apart(report):
    page = report.read_text()
    guards = table(page, "guards")
    assert [row[:3] for row in guards] == [["PASS", "small_cnn", "eval"], ["FAIL", "small_cnn", "recall[Shirt]"]]
    assert guards[1][3:6] == ["0.3120", "0.5010", "0.0400"] and '<td class="text fail">FAIL</td>' in page
    assert table(page, "self-tests") == [
        ["CAUGHT", "fault planted (data)", "labels-misaligned", "caught by score, eval"],
        ["PASS", "A/A, seeds 100-102, 1 thread(s)", "small_cnn", "0 guard(s) failed"]]
    assert "0.0905" not in page  # a broken model's score is not shown as if it were a result


def test_the_forest_plot_draws_each_interval_where_its_score_is(report):
    page = report.read_text()
    assert page.count("<svg") == 1 and "fashion | smoke | holdout | n=600 | macro_f1" in page
    circles = {name: float(x) for x, name in re.findall(r'<circle cx="([\d.]+)"[^>]*><title>(.+?): \d', page)}
    assert circles["c+tta:model"] < circles["b-model"] < circles["a-model"]
    spans = re.findall(r'<line x1="([\d.]+)" x2="([\d.]+)" y1="(\d+)" y2="\3" stroke="#555"', page)
    assert len(spans) == 3 and all(float(low) < circles[name] < float(high)
                                   for (low, high, _), name in zip(spans, ["b-model", "a-model", "c+tta:model"]))


def browser(*args: str, timeout: int = 90) -> str:
    if CHROMIUM is None:
        pytest.skip("headless Chromium is not installed (`apt-get install chromium`; .ci/run installs it as root)")
    done = subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={Path.cwd() / '.chromium-profile'}", *args],
                          capture_output=True, text=True, timeout=timeout)
    return done.stdout


def names_in_order(dom: str) -> list[str]:
    return re.findall(r'<td class="name"><a href="[^"]+">([^<]+)</a>', dom)


def test_every_link_resolves(report):
    hrefs = re.findall(r'href="([^"]+)"', report.read_text())
    assert len(hrefs) == 3
    for href in hrefs:
        page = report.parent / unquote(href)
        assert page.exists(), href
        back = re.search(r'href="([^"]+)"', page.read_text()).group(1)
        assert (page.parent / back).resolve() == report.resolve()


def test_the_table_renders_and_sorts_on_a_click_in_a_real_browser(report, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    url = report.as_uri()
    rendered = browser("--dump-dom", url)
    assert names_in_order(rendered) == ["b-model", "a-model", "c+tta:model"]
    by_score = browser("--dump-dom", url + "?click=score")  # the page clicks the header once loaded
    assert 'data-sorted="score"' in by_score and 'data-order="desc"' in by_score
    assert names_in_order(by_score) == ["a-model", "b-model", "c+tta:model"]
    by_time = browser("--dump-dom", url + "?click=seconds")
    assert names_in_order(by_time) == ["b-model", "c+tta:model", "a-model"]
    run_page = browser("--dump-dom", (report.parent / "runs" / "c+tta:model" / "index.html").as_uri())
    assert "<h1>c+tta:model</h1>" in run_page
    browser("--screenshot=" + str(tmp_path / "report.png"), "--window-size=1200,700", url)
    assert (tmp_path / "report.png").stat().st_size > 10_000
