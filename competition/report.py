"""Per-run reports (result.json, probabilities, history.csv, plots, report.md) and
the session leaderboard."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from .experiment import Result, result_to_json
from .metrics import bootstrap_ci, confusion, per_class_report


def score_interval(result: Result, level: float = 0.95) -> tuple[float, float, float]:
    """The mean-over-seeds score with its two-level bootstrap interval."""
    return bootstrap_ci(result.metric, result.y, result.seed_probs(), 1000, level, seed=0, groups=result.groups)


def history_frame(result) -> pd.DataFrame:
    rows = [{"fold": f["fold"], **row} for f in result.folds for row in f["history"]]
    return pd.DataFrame(rows)


def validation_trust(result, level: float = 0.95) -> dict | None:
    """Does the eval score fall inside the validation CI? (Only where eval answers exist.)"""
    if not result.eval_metrics:
        return None
    point, low, high = score_interval(result, level)
    score = result.eval_metrics.get(result.metric)
    return {"metric": result.metric, "validation": point, "low": low, "high": high, "eval": score,
            "inside": bool(low <= score <= high)}


def plot_learning_curves(history: pd.DataFrame, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_loss, ax_score) = plt.subplots(1, 2, figsize=(10, 3.6))
    for fold, rows in history.groupby("fold"):
        ax_loss.plot(rows["epoch"], rows["train_loss"], "-", label=f"train f{fold}")
        if "val_loss" in rows:
            ax_loss.plot(rows["epoch"], rows["val_loss"], "--", label=f"val f{fold}")
        if "val_macro_f1" in rows:
            ax_score.plot(rows["epoch"], rows["val_macro_f1"], "-o", ms=3, label=f"val macro F1 f{fold}")
        ax_score.plot(rows["epoch"], rows["train_accuracy"], ":", label=f"train acc (augmented) f{fold}")
    ax_loss.set(xlabel="epoch", ylabel="loss", title="loss")
    ax_score.set(xlabel="epoch", title="score")
    for ax in (ax_loss, ax_score):
        ax.legend(fontsize=6)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
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
    ax.set_xticks(range(n), result.class_names, rotation=60, ha="right", fontsize=7)
    ax.set_yticks(range(n), result.class_names, fontsize=7)
    for i in range(n):
        for j in range(n):
            if cm[i, j]:
                ax.text(j, i, cm[i, j], ha="center", va="center", fontsize=6,
                        color="white" if norm[i, j] > 0.5 else "black")
    ax.set(xlabel="predicted", ylabel="true", title=f"{result.name}: OOF confusion")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_per_class_f1(report: pd.DataFrame, path: Path, title: str) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(max(5, 0.5 * len(report)), 3.5))
    ax.bar(range(len(report)), report["f1"], color="#4472c4")
    ax.set_xticks(range(len(report)), report["class"], rotation=60, ha="right", fontsize=7)
    ax.set(ylim=(0, 1), ylabel="F1", title=title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def write_run_report(result, out_dir: str | Path) -> Path:
    """result.json, oof/eval probabilities, history.csv, three PNG plots and report.md."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "result.json").write_text(json.dumps(result_to_json(result), indent=1))
    np.save(out / "oof_probs.npy", result.oof_probs)
    np.save(out / "eval_probs.npy", result.eval_probs)
    history = history_frame(result)
    history.to_csv(out / "history.csv", index=False)
    classes = per_class_report(result.y, result.oof_probs, result.class_names)
    if len(history):
        plot_learning_curves(history, out / "learning_curves.png")
    plot_confusion(result, out / "confusion_matrix.png")
    plot_per_class_f1(classes, out / "per_class_f1.png", f"{result.name}: OOF per-class F1")
    point, low, high = score_interval(result)
    lines = [f"# {result.name}", "", f"- budget: {result.budget}; folds: {len(result.folds)}; "
             f"OOF samples: {len(result.y)}; {result.seconds:.1f}s" + (" (store hit)" if result.cache_hit else ""),
             f"- OOF {result.metric}: {point:.4f} [{low:.4f}, {high:.4f}] (mean of {result.n_seeds} seed(s); 95% "
             "two-level bootstrap CI over seeds and rows)"]
    if result.folds:
        lines.append(f"- generalisation gap (train - val, {result.metric}): {result.gap():.4f}")
        lines += [f"- {name} over {len(result.folds)} fold(s): {v['mean']:.4f} +- {v['std']:.4f}"
                  for name, v in result.fold_summary().items()]
    trust = validation_trust(result)
    if trust:
        lines.append(f"- eval {result.metric}: {trust['eval']:.4f}; inside the validation CI: "
                     f"{'yes' if trust['inside'] else 'NO'}")
    lines += ["", f"spec: `{json.dumps(result.spec, default=str)}`", "",
              "![learning curves](learning_curves.png)", "![confusion](confusion_matrix.png)",
              "![per-class F1](per_class_f1.png)", "", "```", classes.to_string(index=False, float_format="%.3f"), "```"]
    (out / "report.md").write_text("\n".join(lines) + "\n")
    return out


def leaderboard_rows(results) -> list[dict]:
    rows = []
    for r in results:
        point, low, high = score_interval(r)
        rows.append({"experiment": r.name, "metric": r.metric, "score": point, "low": low, "high": high,
                     "gap": r.gap() if r.folds else float("nan"),
                     "eval": (r.eval_metrics or {}).get(r.metric, float("nan")),
                     "seconds": r.seconds, "cached": r.cache_hit})
    return sorted(rows, key=lambda row: -row["score"])


def format_leaderboard(rows: list[dict]) -> list[str]:
    header = f"{'experiment':<44} {'metric':<9} {'score [95% CI]':<24} {'gap':>7} {'eval':>7} {'time':>7}  cache"
    lines = [header, "-" * len(header)]
    for r in rows:
        ci = f"{r['score']:.4f} [{r['low']:.4f}, {r['high']:.4f}]"
        lines.append(f"{r['experiment'][:44]:<44} {r['metric']:<9} {ci:<24} {r['gap']:>7.4f} {r['eval']:>7.4f} "
                     f"{r['seconds']:>6.1f}s  {'hit' if r['cached'] else ''}")
    return lines


def write_leaderboard(rows: list[dict], path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = ["# Leaderboard", "", "| experiment | metric | score | 95% CI | gap | eval | seconds | store hit |",
             "|---|---|---:|---|---:|---:|---:|---|"]
    lines += [f"| {r['experiment']} | {r['metric']} | {r['score']:.4f} | [{r['low']:.4f}, {r['high']:.4f}] | "
              f"{r['gap']:.4f} | {r['eval']:.4f} | {r['seconds']:.1f} | {'yes' if r['cached'] else ''} |" for r in rows]
    path.write_text("\n".join(lines) + "\n")
    return path
