"""Layer 6. A self-contained HTML report (no network): reports/index.html with the
leaderboard (sortable by any column), a forest plot of each group's scores with their
intervals, the claims, the guards as a table and the guards' self-tests apart from
them, and one page per run (reports/runs/<name>/index.html) with its metrics, plots
and spec.

Built with Jinja2 templates (autoescaped). The sorting is a few lines of inline
JavaScript; `index.html?click=<column>` clicks a header once the page has loaded,
which is how the browser test drives it.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from jinja2 import Environment

from .files import atomic_write

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; }
table { border-collapse: collapse; margin: 1em 0; }
th, td { padding: 4px 10px; border-bottom: 1px solid #ddd; text-align: right; white-space: nowrap; }
th { cursor: pointer; background: #f3f3f3; user-select: none; }
td.name, th.name, td.text { text-align: left; }
.pass { color: #1a7f37; } .fail { color: #cf222e; } .underpowered { color: #9a6700; }
img { max-width: 100%; border: 1px solid #eee; margin: 0.5em 0; }
pre { background: #f6f8fa; padding: 1em; overflow-x: auto; }
"""

SORT_SCRIPT = """
function sortBy(header) {
  const table = header.closest("table"), body = table.tBodies[0];
  const column = Array.from(header.parentNode.children).indexOf(header);
  const ascending = table.dataset.sorted === header.dataset.key && table.dataset.order !== "asc";
  const value = row => {
    const cell = row.children[column], number = parseFloat(cell.dataset.value ?? cell.textContent);
    return isNaN(number) ? cell.textContent : number;
  };
  const rows = Array.from(body.rows).sort((a, b) => {
    const x = value(a), y = value(b);
    return (x > y ? 1 : x < y ? -1 : 0) * (ascending ? 1 : -1);
  });
  rows.forEach(row => body.appendChild(row));
  table.dataset.sorted = header.dataset.key;
  table.dataset.order = ascending ? "asc" : "desc";
}
document.querySelectorAll("th[data-key]").forEach(th => th.addEventListener("click", () => sortBy(th)));
const wanted = new URLSearchParams(location.search).get("click");
if (wanted) document.querySelector(`th[data-key="${wanted}"]`)?.click();
"""

INDEX = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>competition report</title><style>{{ style }}</style></head>
<body>
<h1>Leaderboard</h1>
<p>Score: the mean over training seeds with its 95% two-level bootstrap interval (seeds, then rows).
Rows compare only within a group (data, budget, validation scheme, rows, metric). Click a header to sort.</p>
<table id="leaderboard">
<thead><tr>
{% for key, title in columns %}<th data-key="{{ key }}" class="{{ 'name' if key in ('experiment', 'group') else '' }}">{{ title }}</th>{% endfor %}
</tr></thead>
<tbody>
{% for row in rows %}<tr>
<td class="text">{{ row.group }}</td><td>{{ row.rank }}</td>
<td class="name"><a href="runs/{{ row.experiment | urlencode }}/index.html">{{ row.experiment }}</a></td>
<td data-value="{{ row.score }}">{{ '%.4f' % row.score }}</td>
<td class="text" data-value="{{ row.low }}">[{{ '%.4f' % row.low }}, {{ '%.4f' % row.high }}]</td>
<td>{{ row.seeds }}</td><td>{{ '%.4f' % row.gap }}</td><td>{{ '%.4f' % row.eval }}</td>
<td data-value="{{ row.seconds }}">{{ '%.0f' % row.seconds }} s</td><td>{{ 'yes' if row.cached else '' }}</td>
</tr>{% endfor %}
</tbody></table>
{% for forest in forests %}<figure class="forest"><figcaption>{{ forest.group }}</figcaption>
<svg xmlns="http://www.w3.org/2000/svg" width="{{ forest.width }}" height="{{ forest.height }}" font-size="12">
{% for r in forest.rows %}<text x="{{ forest.label_end }}" y="{{ r.y + 4 }}" text-anchor="end">{{ r.name }}</text>
<line x1="{{ r.x_low }}" x2="{{ r.x_high }}" y1="{{ r.y }}" y2="{{ r.y }}" stroke="#555" stroke-width="2"/>
<circle cx="{{ r.x }}" cy="{{ r.y }}" r="4" fill="#0969da"><title>{{ r.name }}: {{ '%.4f' % r.score }} [{{ '%.4f' % r.low }}, {{ '%.4f' % r.high }}]</title></circle>
{% endfor %}{% for t in forest.ticks %}<line x1="{{ t.x }}" x2="{{ t.x }}" y1="{{ forest.axis_y - 4 }}" y2="{{ forest.axis_y }}" stroke="#999"/>
<text x="{{ t.x }}" y="{{ forest.axis_y + 14 }}" text-anchor="middle" fill="#555">{{ t.label }}</text>
{% endfor %}<line x1="{{ forest.label_end + 10 }}" x2="{{ forest.width - 10 }}" y1="{{ forest.axis_y }}" y2="{{ forest.axis_y }}" stroke="#999"/>
</svg></figure>{% endfor %}
{% if claims %}<h2>Claims</h2>
<table id="claims"><thead><tr><th data-key="outcome" class="name">outcome</th><th data-key="claim" class="name">claim</th>
<th data-key="delta">delta</th><th data-key="interval" class="name">interval</th><th data-key="mde">MDE</th><th data-key="seeds">seeds</th></tr></thead>
<tbody>{% for c in claims %}<tr><td class="text {{ c.outcome }}">{{ c.outcome | upper }}</td>
<td class="text">{{ c.experiment }} {{ c.claim }} {{ c.other }}</td>
<td>{{ '%+.4f' % c.delta if c.delta is defined else '' }}</td>
<td class="text">{% if c.low is defined %}[{{ '%+.4f' % c.low }}, {{ '%+.4f' % c.high }}]{% endif %}</td>
<td>{{ '%.4f' % c.mde if c.mde is defined else '' }}</td><td>{{ c.seeds_a }}/{{ c.seeds_b }}</td></tr>{% endfor %}
</tbody></table>{% endif %}
{% if guards %}<h2>Guards</h2>
<p>Each guard compares the guard model's mean over its seeds with the recorded baseline; it fails when the
value is worse than the baseline by more than the tolerance (set by the baseline's seed spread). MDE: the
smallest regression it detects with 80% power.</p>
<table id="guards"><thead><tr><th data-key="outcome" class="name">outcome</th><th data-key="experiment" class="name">guard model</th>
<th data-key="measure" class="name">measure</th><th data-key="value">value</th><th data-key="baseline">baseline</th>
<th data-key="tolerance">tolerance</th><th data-key="mde">MDE</th><th data-key="seeds">seeds</th></tr></thead>
<tbody>{% for g in guards %}<tr><td class="text {{ g.outcome }}">{{ g.outcome | upper }}</td><td class="text">{{ g.experiment }}</td>
<td class="text">{{ g.measure }}</td><td>{{ '%.4f' % g.new }}</td><td>{{ '%.4f' % g.baseline }}</td>
<td>{{ '%.4f' % g.tolerance }}</td><td>{{ '%.4f' % g.detectable }}</td><td>{{ g.seeds }}</td></tr>{% endfor %}
</tbody></table>{% endif %}
{% if self_tests %}<h2>The guards' self-tests</h2>
<p>Not results: faults planted on purpose, each of which the guards must catch (their scores are the broken
model's), and A/A runs of the unchanged guard model on other seeds, where no guard may fail.</p>
<table id="self-tests"><thead><tr><th data-key="outcome" class="name">outcome</th><th data-key="test" class="name">self-test</th>
<th data-key="name" class="name">fault or model</th><th data-key="detail" class="name">what happened</th></tr></thead>
<tbody>{% for t in self_tests %}<tr><td class="text {{ t.outcome }}">{{ t.label }}</td><td class="text">{{ t.test }}</td>
<td class="text">{{ t.name }}</td><td class="text">{{ t.detail }}</td></tr>{% endfor %}
</tbody></table>{% endif %}
{% if searches %}<h2>Searches</h2><ul>{% for s in searches %}<li><a href="searches/{{ s.name | urlencode }}/index.html">{{ s.name }}</a>: {{ s.lines[0] }}{% if s.confirmation and s.confirmation.outcome %} <span class="{{ s.confirmation.outcome }}">confirmation: {{ s.confirmation.outcome }}</span>{% endif %}</li>{% endfor %}</ul>{% endif %}
<script>{{ script | safe }}</script>
</body></html>
"""

RUN = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{ row.experiment }}</title><style>{{ style }}</style></head>
<body>
<p><a href="../../index.html">back to the leaderboard</a></p>
<h1>{{ row.experiment }}</h1>
<table>
<tr><th class="name">group</th><td class="text">{{ row.group }}</td></tr>
<tr><th class="name">{{ row.metric }}</th><td class="text">{{ '%.4f' % row.score }} [{{ '%.4f' % row.low }}, {{ '%.4f' % row.high }}], {{ row.seeds }} seed(s)</td></tr>
<tr><th class="name">generalisation gap</th><td class="text">{{ '%.4f' % row.gap }}</td></tr>
<tr><th class="name">eval {{ row.metric }}</th><td class="text">{{ '%.4f' % row.eval }}</td></tr>
<tr><th class="name">store key</th><td class="text">{{ row.key }}</td></tr>
</table>
{% if claims %}<h2>Claims</h2><ul>{% for c in claims %}<li class="{{ c.outcome }}">{{ c.outcome | upper }}: {{ c.experiment }} {{ c.claim }} {{ c.other }}</li>{% endfor %}</ul>{% endif %}
{% for image in images %}<img src="{{ image }}" alt="{{ image }}">{% endfor %}
{% if spec %}<h2>Spec</h2><pre>{{ spec }}</pre>{% endif %}
</body></html>
"""

STUDY = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{ s.name }}</title><style>{{ style }}</style></head>
<body>
<p><a href="../../index.html">back to the leaderboard</a></p>
<h1>Search {{ s.name }}</h1>
<p>Optuna study <code>{{ s.study }}</code> in <code>{{ s.storage }}</code>. Each trial's score is its {{ s.metric }}
on the search rows; the best trial is then confirmed against the base spec, with fresh seeds, on the
confirmation split that no trial saw.</p>
<pre>{% for line in s.lines %}{{ line }}
{% endfor %}</pre>
<table id="trials"><thead><tr><th data-key="number">trial</th><th data-key="state" class="name">state</th>
<th data-key="value">{{ s.metric }}</th><th data-key="step">last epoch</th><th data-key="params" class="name">parameters</th>
<th data-key="source" class="name">source</th><th data-key="why" class="name">why stopped</th></tr></thead>
<tbody>{% for t in s.trials %}<tr><td>{{ t.number }}</td><td class="text">{{ t.state }}</td>
<td>{{ '%.4f' % t.value if t.value is not none else '' }}</td><td>{{ t.last_step if t.last_step is not none else '' }}</td>
<td class="text">{{ t.params }}</td><td class="text">{{ t.source }}</td><td class="text">{{ t.why }}</td></tr>{% endfor %}
</tbody></table>
{% for image in images %}<img src="{{ image }}" alt="{{ image }}">{% endfor %}
<script>{{ script | safe }}</script>
</body></html>
"""

COLUMNS = [
    ("group", "group"),
    ("rank", "#"),
    ("experiment", "experiment"),
    ("score", "score"),
    ("interval", "95% CI"),
    ("seeds", "seeds"),
    ("gap", "gap"),
    ("eval", "eval"),
    ("seconds", "time"),
    ("cached", "store hit"),
]
PLOTS = ("learning_curves.png", "confusion_matrix.png", "per_class_f1.png")


FOREST = {"width": 760, "label_end": 260, "row": 22, "top": 14, "ticks": 5}


def forest(group: str, rows: list[dict]) -> dict:
    """Where a forest plot draws each row's score and interval, its rows in leaderboard order."""
    width, label_end, step, top = FOREST["width"], FOREST["label_end"], FOREST["row"], FOREST["top"]
    low, high = min(row["low"] for row in rows), max(row["high"] for row in rows)
    pad = max(high - low, 1e-3) * 0.05
    low, high = low - pad, high + pad
    x = lambda value: round(label_end + 10 + (value - low) / (high - low) * (width - label_end - 20), 1)
    drawn = [
        {
            "name": row["experiment"][:40],
            "score": row["score"],
            "low": row["low"],
            "high": row["high"],
            "y": top + i * step,
            "x": x(row["score"]),
            "x_low": x(row["low"]),
            "x_high": x(row["high"]),
        }
        for i, row in enumerate(rows)
    ]
    axis_y = top + len(rows) * step
    ticks = [low + (high - low) * k / (FOREST["ticks"] - 1) for k in range(FOREST["ticks"])]
    return {
        "group": group,
        "rows": drawn,
        "width": width,
        "height": axis_y + 22,
        "label_end": label_end,
        "axis_y": axis_y,
        "ticks": [{"x": x(value), "label": f"{value:.3f}"} for value in ticks],
    }


def forests(rows: list[dict]) -> list[dict]:
    """One forest plot per leaderboard group (rows compare only within a group)."""
    groups: dict[str, list[dict]] = {}
    for row in rows:
        if all(math.isfinite(row[key]) for key in ("score", "low", "high")):
            groups.setdefault(row["group"], []).append(row)
    return [forest(group, members) for group, members in groups.items()]


def self_test_row(figure: dict) -> dict:
    if figure["gate"] == "fault":
        caught = figure["caught"] != "NOTHING"
        return {
            "outcome": "pass" if caught else "fail",
            "label": "CAUGHT" if caught else "MISSED",
            "test": f"fault planted ({figure['kind']})",
            "name": figure["experiment"],
            "detail": f"caught by {figure['caught']}",
        }
    clean = figure["failures"] == 0
    return {
        "outcome": "pass" if clean else "fail",
        "label": "PASS" if clean else "FAIL",
        "test": f"A/A, seeds {figure['seeds']}, {figure['threads']} thread(s)",
        "name": figure["experiment"],
        "detail": f"{figure['failures']} guard(s) failed",
    }


def write_page(path: Path, page: str) -> Path:
    return atomic_write(path, lambda tmp: tmp.write_text(page))


def write_html_report(
    rows: list[dict], claims: list[dict], guard_figures: list[dict], reports: Path, searches: list[dict] | tuple = ()
) -> Path:
    """reports/index.html, reports/runs/<experiment>/index.html for every row and
    reports/searches/<search>/index.html for every search (a dict with the SearchReport's fields, its
    `lines`, and `images`: the study's plots already in that folder); returns the index. guard_figures:
    what the regression guards ("regression"), the planted faults ("fault") and A/A runs ("aa") published."""
    env = Environment(autoescape=True)
    for search in searches:
        folder = reports / "searches" / search["name"]
        page = env.from_string(STUDY).render(s=search, images=search.get("images", []), style=STYLE, script=SORT_SCRIPT)
        write_page(folder / "index.html", page)
    rows = [
        {
            **row,
            "group": " | ".join(map(str, (row["data"], row["budget"], row["scheme"], f"n={row['n']}", row["metric"]))),
        }
        for row in rows
    ]
    for row in rows:
        folder = reports / "runs" / row["experiment"]
        spec_file = folder / "result.json"
        spec = json.dumps(json.loads(spec_file.read_text()).get("spec", {}), indent=1) if spec_file.exists() else ""
        mine = [c for c in claims if row["experiment"] in (c.get("experiment"), c.get("other"))]
        page = env.from_string(RUN).render(
            row=row, style=STYLE, claims=mine, spec=spec, images=[name for name in PLOTS if (folder / name).exists()]
        )
        write_page(folder / "index.html", page)
    guards = [figure for figure in guard_figures if figure["gate"] == "regression"]
    self_tests = [self_test_row(figure) for figure in guard_figures if figure["gate"] in ("fault", "aa")]
    index = env.from_string(INDEX).render(
        rows=rows,
        claims=claims,
        guards=guards,
        self_tests=self_tests,
        forests=forests(rows),
        columns=COLUMNS,
        style=STYLE,
        script=SORT_SCRIPT,
        searches=searches,
    )
    return write_page(reports / "index.html", index)
