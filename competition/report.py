"""Layer 6. Per-run reports (result.json, probabilities, history.csv, plots, report.md) and
the session leaderboard."""

from __future__ import annotations

import json
import os
import shutil
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from .data.eda import drawable
from .experiment import Result, result_to_json
from .files import atomic_write, check_folder_name, staging_folder
from .metrics import bootstrap_ci, confusion, per_class_report
from .provenance import environment


def score_interval(result: Result, level: float = 0.95) -> tuple[float, float, float]:
    """The mean-over-seeds score with its two-level bootstrap interval."""
    return bootstrap_ci(result.metric, result.y, result.seed_probs(), 1000, level, seed=0, groups=result.groups)


def history_frame(result) -> pd.DataFrame:
    rows = [{"fold": f["fold"], "seed": f.get("seed", 0), **row} for f in result.folds for row in f["history"]]
    return pd.DataFrame(rows)


def validation_trust(result, level: float = 0.95) -> dict | None:
    """Does the eval score fall inside the validation CI? (Only where eval answers exist.)"""
    if not result.eval_metrics:
        return None
    point, low, high = score_interval(result, level)
    score = result.eval_metrics.get(result.metric)
    return {
        "metric": result.metric,
        "validation": point,
        "low": low,
        "high": high,
        "eval": score,
        "inside": bool(low <= score <= high),
    }


def plot_learning_curves(history: pd.DataFrame, path: Path, name: str = "", metric: str = "macro_f1") -> None:
    """Three panels (loss, validation metric, augmented train accuracy), one colour per unit (fold x seed):
    train solid, validation dashed; whole-number epoch ticks; the legend beside the curves."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    fig, (ax_loss, ax_val, ax_train) = plt.subplots(1, 3, figsize=(14, 3.8))
    colours = plt.get_cmap("tab10")
    for i, ((fold, seed), rows) in enumerate(history.groupby(["fold", "seed"])):
        colour, label = colours(i % 10), f"fold {fold}, seed {seed}"
        ax_loss.plot(rows["epoch"], rows["train_loss"], "-", color=colour, label=f"{label}: train")
        if "val_loss" in rows:
            ax_loss.plot(rows["epoch"], rows["val_loss"], "--", color=colour, label=f"{label}: validation")
        if f"val_{metric}" in rows:
            ax_val.plot(rows["epoch"], rows[f"val_{metric}"], "--o", ms=3, color=colour, label=label)
        ax_train.plot(rows["epoch"], rows["train_accuracy"], "-", color=colour, label=label)
    ax_loss.set(xlabel="epoch", ylabel="loss", title=f"{name}: loss")
    ax_val.set(xlabel="epoch", ylabel=metric, title=f"{name}: validation {metric}")
    ax_train.set(xlabel="epoch", ylabel="accuracy", title=f"{name}: train accuracy (augmented)")
    for ax in (ax_loss, ax_val, ax_train):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
    ax_loss.legend(fontsize=8, loc="upper left", bbox_to_anchor=(0, -0.2), ncol=2, frameon=False)
    fig.tight_layout()
    fig.savefig(path, dpi=150, bbox_inches="tight")
    plt.close(fig)


def plot_confusion(result, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cm = confusion(result.y, result.oof_probs)
    norm = cm / np.maximum(cm.sum(1, keepdims=True), 1)
    n = len(result.class_names)
    fig, ax = plt.subplots(figsize=(0.55 * n + 2, 0.55 * n + 1.5))
    ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    names = drawable(result.class_names)
    ax.set_xticks(range(n), names, rotation=60, ha="right", fontsize=7)
    ax.set_yticks(range(n), names, fontsize=7)
    for i in range(n):
        for j in range(n):
            if cm[i, j]:
                ax.text(
                    j, i, cm[i, j], ha="center", va="center", fontsize=6, color="white" if norm[i, j] > 0.5 else "black"
                )
    ax.set(xlabel="predicted", ylabel="true", title=f"{result.name}: OOF confusion")
    fig.tight_layout()
    fig.savefig(path, dpi=150)
    plt.close(fig)


def plot_per_class_f1(report: pd.DataFrame, path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(max(5, 0.5 * len(report)), 3.5))
    ax.bar(range(len(report)), report["f1"], color="#4472c4")
    ax.set_xticks(range(len(report)), drawable(report["class"]), rotation=60, ha="right", fontsize=7)
    ax.set(ylim=(0, 1), ylabel="F1", title=title)
    fig.tight_layout()
    fig.savefig(path, dpi=150)
    plt.close(fig)


def execution_line(execution: dict) -> str:
    """The execution path, and for a probed one what each candidate measured on which machine."""
    if execution["chosen_by"] != "probe":
        return f"- execution path: {execution['path']} (set by the spec)"
    speeds = ", ".join(
        f"{r['label']} {r['images_per_s']:.0f} img/s (loss error {r['loss_error']:.1e})" for r in execution["probe"]
    )
    where = execution["cpu"] + f" [{execution['isa']}]" + (f", {execution['gpu']}" if execution.get("gpu") else "")
    probe = "cached probe" if execution.get("probe_cached") else "probe"
    refused = "".join(f"; not {label}: {why}" for label, why in execution.get("refused", {}).items())
    return f"- execution path: {execution['path']}, probed on {where}; {probe}: {speeds}{refused}"


def run_folder(reports: Path, name: str) -> Path:
    """reports/runs/<name>: a run's report folder, for a name that is one folder's name (check_folder_name)."""
    return Path(reports) / "runs" / check_folder_name(name, "the run's name")


def write_run_report(result, out_dir: str | Path) -> Path:
    """result.json, oof/eval probabilities, history.csv, three PNG plots and report.md, published whole:
    written in a staging folder that replaces `out_dir` only once every file is there."""
    final = Path(out_dir)
    out = staging_folder(final.parent, final.name)
    try:
        fill_run_report(result, out)
        if final.exists():
            aside = staging_folder(final.parent, f"{final.name}.old")
            os.rename(final, aside / final.name)
            os.rename(out, final)
            shutil.rmtree(aside, ignore_errors=True)
        else:
            os.rename(out, final)
    finally:
        shutil.rmtree(out, ignore_errors=True)
    return final


def fill_run_report(result, out: Path) -> None:
    (out / "result.json").write_text(json.dumps(result_to_json(result), indent=1))
    np.save(out / "oof_probs.npy", result.oof_probs)
    np.save(out / "eval_probs.npy", result.eval_probs)
    history = history_frame(result)
    history.to_csv(out / "history.csv", index=False)
    classes = per_class_report(result.y, result.oof_probs, result.class_names)
    if len(history):
        plot_learning_curves(history, out / "learning_curves.png", result.name, result.metric)
    plot_confusion(result, out / "confusion_matrix.png")
    plot_per_class_f1(classes, out / "per_class_f1.png", f"{result.name}: OOF per-class F1")
    point, low, high = score_interval(result)
    applied = next((f["applied"] for f in result.folds if "applied" in f), None)
    lines = [
        f"# {result.name}",
        "",
        f"- budget: {result.budget}; units (fold x seed): {len(result.folds)}; "
        f"OOF samples: {len(result.y)}; {result.seconds:.1f}s"
        + (" (store hit)" if result.provenance.cache_hit else ""),
        f"- OOF {result.metric}: {point:.4f} [{low:.4f}, {high:.4f}] (mean of {result.n_seeds} seed(s); 95% "
        "two-level bootstrap CI over seeds and rows)",
    ]
    if applied:  # what the budget made of the spec, which may ask for more
        lines.append(
            f"- trained as the budget applied it: {applied['epochs']} epochs, batch {applied['batch_size']}, "
            f"{applied['train_rows']} train rows per unit"
        )
    if result.provenance.execution:
        lines.append(execution_line(result.provenance.execution))
    if result.folds:
        lines.append(f"- generalisation gap (train - val, {result.metric}): {result.gap():.4f}")
        lines += [
            f"- {name} over {len(result.folds)} unit(s) (fold x seed): {v['mean']:.4f} +- {v['std']:.4f}"
            for name, v in result.fold_summary().items()
        ]
    empty = classes.loc[classes["support"] == 0, "class"].tolist()
    if empty:
        lines.append(f"- classes with no OOF rows (empty in the training data): {empty}")
    if result.provenance.skipped:
        shown = ", ".join(f"row {s['row']} ({s['image_id']})" for s in result.provenance.skipped[:5])
        lines.append(
            f"- {len(result.provenance.skipped)} train row(s) skipped, their images missing: {shown}"
            + (" ..." if len(result.provenance.skipped) > 5 else "")
        )
    trust = validation_trust(result)
    if trust:
        lines.append(
            f"- eval {result.metric}: {trust['eval']:.4f}; inside the validation CI: "
            f"{'yes' if trust['inside'] else 'NO'}"
        )
    lines += [
        "",
        f"spec: `{json.dumps(result.spec, default=str)}`",
        "",
        "![learning curves](learning_curves.png)",
        "![confusion](confusion_matrix.png)",
        "![per-class F1](per_class_f1.png)",
        "",
        "```",
        classes.to_string(index=True, float_format="%.3f"),
        "```",
    ]
    (out / "report.md").write_text("\n".join(lines) + "\n")


def validation_of(result: Result) -> tuple[str, str]:
    """(data, validation scheme) of a result; an ensemble or TTA result inherits its first member's. A run on a
    competition's search rows (a search's trial) is its own group: other rows validate it, and its eval
    column is the confirmation split's."""
    spec = result.spec
    data = str(spec.get("data", "?"))
    if spec.get("rows", "all") == "search":
        data += " search rows (eval: confirmation split)"
    return data, str(spec.get("cv", "?"))


def leaderboard_rows(results) -> list[dict]:
    """One row per result, ranked within its group: results are comparable only on the same data,
    budget, validation scheme and rows."""
    rows = []
    for r in results:
        point, low, high = score_interval(r)
        data, scheme = validation_of(r)
        rows.append(
            {
                "experiment": r.name,
                "data": data,
                "budget": r.budget,
                "scheme": scheme,
                "n": len(r.y),
                "metric": r.metric,
                "score": point,
                "low": low,
                "high": high,
                "seeds": r.n_seeds,
                "gap": r.gap() if r.folds else float("nan"),
                "eval": (r.eval_metrics or {}).get(r.metric, float("nan")),
                "seconds": r.seconds,
                "cached": r.provenance.cache_hit,
                "key": r.key,
            }
        )
    return rank_within_groups(rows)


def group_of(row: dict) -> tuple:
    return row["data"], row["budget"], row["scheme"], row["n"], row["metric"]


def rank_within_groups(rows: list[dict]) -> list[dict]:
    rows = sorted(rows, key=lambda row: (group_of(row), -row["score"]))
    for group in {group_of(row) for row in rows}:
        for rank, row in enumerate((r for r in rows if group_of(r) == group), start=1):
            row["rank"] = rank
    return rows


def group_title(group: tuple) -> str:
    data, budget, scheme, n, metric = group
    return f"{data} | budget {budget} | {scheme}, n={n} | {metric}"


def format_leaderboard(rows: list[dict]) -> list[str]:
    """Terminal lines, at most 100 columns, one block per comparable group."""
    header = f"{'#':>2} {'experiment':<34} {'score [95% CI]':<24} {'gap':>7} {'eval':>7} {'seeds':>5} {'time':>7} hit"
    lines = []
    for group in sorted({group_of(row) for row in rows}):
        lines += [group_title(group), header, "-" * len(header)]
        for r in (row for row in rows if group_of(row) == group):
            ci = f"{r['score']:.4f} [{r['low']:.4f}, {r['high']:.4f}]"
            lines.append(
                f"{r['rank']:>2} {r['experiment'][:34]:<34} {ci:<24} {r['gap']:>7.4f} {r['eval']:>7.4f} "
                f"{r['seeds']:>5} {r['seconds']:>6.0f}s {'yes' if r['cached'] else ''}"
            )
    return lines


def markdown_table(rows: list[dict]) -> list[str]:
    lines = []
    for group in sorted({group_of(row) for row in rows}):
        lines += [
            "",
            f"### {group_title(group)}",
            "",
            "| # | experiment | score | 95% CI | seeds | gap | eval | seconds | store hit |",
            "|---:|---|---:|---|---:|---:|---:|---:|---|",
        ]
        lines += [
            f"| {r['rank']} | {r['experiment']} | {r['score']:.4f} | [{r['low']:.4f}, {r['high']:.4f}] | "
            f"{r['seeds']} | {r['gap']:.4f} | {r['eval']:.4f} | {r['seconds']:.1f} | "
            f"{'yes' if r['cached'] else ''} |"
            for r in rows
            if group_of(r) == group
        ]
    return lines


HISTORY_FIELDS = {
    "experiment": str,
    "data": str,
    "budget": str,
    "scheme": str,
    "n": int,
    "metric": str,
    "score": float,
    "low": float,
    "high": float,
    "seeds": int,
}


class HistoryWarning(UserWarning):
    """A line of runs/history.jsonl that is not a leaderboard row was skipped."""


def history_row(line: str) -> dict | None:
    """A recorded leaderboard row, or None when the line is not one (cut, foreign, hand-edited)."""
    try:
        row = json.loads(line)
    except json.JSONDecodeError:
        return None
    if not isinstance(row, dict):
        return None
    for name, kind in HISTORY_FIELDS.items():
        value = row.get(name)
        if isinstance(value, bool) or not isinstance(value, (int, float) if kind in (int, float) else kind):
            return None
    return row


def read_history(path: Path) -> list[dict]:
    """Every valid row of the history; each other line is skipped with a warning naming its line number."""
    history, skipped = [], []
    text = path.read_text(errors="replace") if path.exists() else ""
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        row = history_row(line)
        if row is None:
            skipped.append(number)
        else:
            history.append(row)
    if skipped:
        shown = ", ".join(map(str, skipped[:10])) + (" ..." if len(skipped) > 10 else "")
        warnings.warn(
            f"{path}: skipped {len(skipped)} line(s) that are not leaderboard rows (line {shown}); the "
            "rest of the history is used",
            HistoryWarning,
            stacklevel=2,
        )
    return history


def append_history(rows: list[dict], path: str | Path) -> list[dict]:
    """Append this session's rows, stamped with time, commit and environment, to a JSON-lines history
    (nothing is overwritten); return every valid row ever recorded. A last line cut without its newline
    (a killed writer) is closed first, so it cannot swallow this session's first row."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    stamp = {"recorded": time.strftime("%Y-%m-%dT%H:%M:%S"), "environment": environment()}
    lines = "".join(json.dumps({**row, **stamp}, default=float) + "\n" for row in rows)
    with open(path, "a+b") as handle:
        handle.seek(0, os.SEEK_END)
        if handle.tell():
            handle.seek(-1, os.SEEK_END)
            if handle.read(1) != b"\n":
                lines = "\n" + lines
        handle.write(lines.encode())  # one write: a kill leaves at most one cut line
    return read_history(path)


def best_ever(history: list[dict]) -> list[dict]:
    best: dict[tuple, dict] = {}
    for row in history:
        key = (row["experiment"], *group_of(row))
        if key not in best or row["score"] > best[key]["score"]:
            best[key] = row
    return rank_within_groups([dict(row) for row in best.values()])


def write_leaderboard(rows: list[dict], path: str | Path, history: list[dict] | None = None) -> Path:
    """This session's rows, grouped and ranked, and the best row ever recorded per experiment."""
    lines = ["# Leaderboard", "", f"This session ({time.strftime('%Y-%m-%d %H:%M')}):"] + markdown_table(rows)
    if history:
        lines += ["", "## Best ever per experiment", "", f"From {len(history)} recorded rows."]
        lines += markdown_table(best_ever(history))
    text = "\n".join(lines) + "\n"
    return atomic_write(path, lambda tmp: tmp.write_text(text))
