"""Write a retrieval evaluation as JSON (for machines), Markdown (for people) and a bar chart."""

from __future__ import annotations

from pathlib import Path

from .harness import RetrievalEvalReport
from .metrics import METRIC_LABELS


def to_markdown(report: RetrievalEvalReport) -> str:
    """A table of every system (``†`` marks a significant difference from the baseline), then the
    ablation: the richest system with each signal removed, and what removing it costs."""
    judged = report.judgments
    knowledge = report.knowledge or {}
    lines = [
        f"# Retrieval evaluation: {judged['topics']} topics, {report.translation} ({report.corpus_verses:,} verses)",
        "",
        f"Judgments: `{judged['source']}` ({judged['judged_verses']:,} judged verses; "
        f"{judged['skipped_rows']:,} long-passage rows skipped; rule {judged['rule']}).",
    ]
    if knowledge:
        lines += ["", f"Joined documents over {', '.join(report.translations)}. Verse prior and topic memory from "
                      f"`{knowledge['source']}` ({knowledge['topics']:,} topics, none of them evaluated here)."]
        if knowledge.get("weights_chosen_on"):
            lines.append(f"Tuned fusion weights were chosen on {knowledge['weights_chosen_on']}: evaluated on those "
                         "topics, tuned rows are optimistic; the equal-weight row is the untuned one.")
    lines += [
        "",
        "| system | " + " | ".join(METRIC_LABELS[m] for m in report.metrics)
        + f" | p (NDCG@10 vs {report.baseline}) | query time (s) |",
        "| --- |" + " ---: |" * (len(report.metrics) + 2),
    ]
    for system in report.systems:
        if system.kind == "ablation":
            continue
        cells = [f"{system.scores[m]:.4f}{'†' if system.significant[m] else ''}" for m in report.metrics]
        p_value = "—" if system.name == report.baseline else f"{system.p_values['ndcg@10']:.3g}"
        lines.append(f"| {system.name} | " + " | ".join(cells) + f" | {p_value} | {system.query_seconds:.1f} |")
    lines += ["", f"† p < {report.max_p} against {report.baseline}, paired {report.stat_test} test over topics (ranx)."]
    lines += [
        f"{system.name}: RRF weights " + ", ".join(f"{signal} {weight:g}" for signal, weight in
                                                    system.fusion_weights.items()) + "."
        for system in report.systems if system.fusion_weights and system.kind != "ablation"
    ]
    lines += _ablation(report)
    return "\n".join(lines + [""])


def _ablation(report: RetrievalEvalReport) -> list[str]:
    removed = [system for system in report.systems if system.kind == "ablation"]
    if not removed:
        return []
    full_name = removed[0].name.rsplit(" − ", 1)[0]
    full = report.system(full_name)
    lines = ["", f"## Ablation: {full_name}, each signal removed", "",
             "| signal removed | NDCG@10 | Δ NDCG@10 | MRR@10 | Δ MRR@10 |", "| --- | ---: | ---: | ---: | ---: |",
             f"| none | {full.scores['ndcg@10']:.4f} | — | {full.scores['mrr@10']:.4f} | — |"]
    for system in removed:
        ndcg, mrr = system.scores["ndcg@10"], system.scores["mrr@10"]
        lines.append(f"| {system.removed} | {ndcg:.4f} | {ndcg - full.scores['ndcg@10']:+.4f} | {mrr:.4f} | "
                     f"{mrr - full.scores['mrr@10']:+.4f} |")
    return lines


def plot(report: RetrievalEvalReport, path: Path) -> None:
    """Grouped bars: one group per metric, one bar per system."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    metrics = list(report.metrics)
    width = 0.8 / len(report.systems)
    figure, axes = plt.subplots(figsize=(max(7.0, 1.6 * len(metrics) * len(report.systems) / 3), 4.5))
    positions = np.arange(len(metrics))
    for i, system in enumerate(report.systems):
        bars = axes.bar(positions + i * width, [system.scores[m] for m in metrics], width, label=system.name)
        axes.bar_label(bars, fmt="%.3f", fontsize=6, rotation=90, padding=2)
    axes.set_xticks(positions + width * (len(report.systems) - 1) / 2, [METRIC_LABELS[m] for m in metrics])
    axes.set_ylabel("score")
    axes.set_title(f"{report.judgments['topics']} OpenBible topics, {report.translation}")
    axes.legend(fontsize=7, loc="upper left")
    axes.margins(y=0.15)
    figure.tight_layout()
    figure.savefig(path, dpi=150)
    plt.close(figure)


def write_report(report: RetrievalEvalReport, output_dir: str | Path, stem: str = "retrieval") -> dict[str, Path]:
    """Write ``<stem>.json``, ``<stem>.md`` and ``<stem>.png`` into ``output_dir``, each atomically:
    a failure (a full disk) keeps the previous report whole and says which file could not be written."""
    from ..atomic import atomic_path, filesystem_errors, write_json_atomically, write_text_atomically

    output = Path(output_dir)
    with filesystem_errors(output, "creating"):
        output.mkdir(parents=True, exist_ok=True)
    paths = {"json": output / f"{stem}.json", "markdown": output / f"{stem}.md", "png": output / f"{stem}.png"}
    write_json_atomically(paths["json"], report.to_dict())
    write_text_atomically(paths["markdown"], to_markdown(report))
    with atomic_path(paths["png"]) as temporary:
        plot(report, temporary)
    return paths
