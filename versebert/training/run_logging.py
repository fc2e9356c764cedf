"""Metrics of a training run, written three ways: a JSONL file, TensorBoard, and a PNG of the curves.

The JSONL file is the record (one object per line: ``step``, ``time`` and the metrics); TensorBoard
is for watching a run live; the PNG is for a report. Any training stage can use :class:`RunLogger`.
Only the main process should write: other processes get ``enabled=False``.

On resume, lines and TensorBoard events after the resumed step are dropped, so the curves do not
hold two versions of the steps a crashed run did after its last checkpoint.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Mapping
from pathlib import Path

from ..atomic import atomic_path, filesystem_errors, write_text_atomically
from ..errors import require


class RunLogger:
    def __init__(self, directory: str | Path, *, enabled: bool = True, resume_step: int | None = None):
        self.directory = Path(directory)
        self.path = self.directory / "metrics.jsonl"
        self.enabled = enabled
        self._writer = None
        if not enabled:
            return
        with filesystem_errors(self.directory, "creating"):
            self.directory.mkdir(parents=True, exist_ok=True)
        if resume_step is None:
            write_text_atomically(self.path, "")
        else:
            kept = [record for record in read_metrics(self.path) if record.get("step", 0) <= resume_step]
            write_text_atomically(self.path, "".join(json.dumps(record) + "\n" for record in kept))
        # tensorboard is a hard requirement: accelerate's log_with="tensorboard" silently logs nothing without it.
        require("tensorboard", "train")
        from torch.utils.tensorboard import SummaryWriter

        self._writer = SummaryWriter(str(self.directory / "tensorboard"), purge_step=resume_step)

    def log(self, step: int, metrics: Mapping[str, float | int | str]) -> None:
        """Record ``metrics`` at ``step``; numbers also go to TensorBoard (tagged as given, e.g. ``train/loss``)."""
        if not self.enabled or not metrics:
            return
        record = {"step": step, "time": round(time.time(), 3), **metrics}
        with filesystem_errors(self.path), open(self.path, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(record) + "\n")  # appended: a cut-short last line is skipped on reading
        for key, value in metrics.items():
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                self._writer.add_scalar(key, value, step)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def plot(self, output: str | Path | None = None, *, title: str | None = None) -> Path | None:
        """Write a PNG with one panel per informative metric over steps; returns its path."""
        if not self.enabled:
            return None
        return plot_metrics(self.path, output or self.directory / "curves.png", title=title)


def read_metrics(path: str | Path) -> list[dict]:
    path = Path(path)
    if not path.is_file():
        return []
    records = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            records.append(json.loads(line))
        except ValueError:  # a line cut short by a crash (or a full disk) while appending: not a record
            continue
    return records


# Logged by the Trainer but carrying nothing a curve can show: a FLOP counter that only grows, and the
# epoch, a straight line over steps.
UNINFORMATIVE_METRICS = ("total_flos", "epoch")


def run_title(output: Path) -> str:
    """The run a figure belongs to, from where it is written (``runs/tiny/model-run/curves.png``:
    ``tiny/model-run``), so a PNG shared without its path still says which run and stage it shows."""
    parts = output.resolve().parent.parts[-2:]
    return "/".join(parts)


def metric_panels(records: list[dict]) -> dict[str, dict[str, tuple[list[int], list[float]]]]:
    """Series by panel, keeping only panels that show something.

    Metrics that share a name after the first ``/`` (``train/loss`` and ``eval/loss``) share a panel,
    so training and validation loss are read against each other. A panel whose points are fewer than
    two, or all equal, is dropped (a single end-of-run runtime, a constant learning rate), and so are
    :data:`UNINFORMATIVE_METRICS`; a single point beside a curve (``best/...`` next to ``eval/...``)
    stays, as its marker.
    """
    series: dict[str, dict[str, tuple[list[int], list[float]]]] = {}
    for record in records:
        for key, value in record.items():
            if key in ("step", "time") or isinstance(value, bool) or not isinstance(value, (int, float)):
                continue
            if not math.isfinite(value) or key.split("/")[-1] in UNINFORMATIVE_METRICS:
                continue
            panel = key.split("/", 1)[-1]
            steps, values = series.setdefault(panel, {}).setdefault(key, ([], []))
            steps.append(record["step"])
            values.append(value)
    informative = {}
    for panel, lines in series.items():
        values = [value for _, line_values in lines.values() for value in line_values]
        if len(values) >= 2 and min(values) != max(values):
            informative[panel] = lines
    return informative


def plot_metrics(metrics_path: str | Path, output: str | Path, *, title: str | None = None) -> Path:
    """One panel per informative metric of a JSONL metrics file (:func:`metric_panels`), each against
    ``step``, under a title naming the run (default: :func:`run_title` of ``output``)."""
    require("matplotlib", "train")
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    output = Path(output)
    title = title or run_title(output)
    series = metric_panels(read_metrics(metrics_path))
    output.parent.mkdir(parents=True, exist_ok=True)
    columns = min(3, max(1, len(series)))
    rows = max(1, math.ceil(len(series) / columns))
    figure, axes = plt.subplots(rows, columns, figsize=(5 * columns, 3.2 * rows + 0.5), squeeze=False)
    for axis, (panel, lines) in zip(axes.flat, sorted(series.items()), strict=False):
        for key, (steps, values) in sorted(lines.items()):
            marker = "o" if len(steps) == 1 else "." if len(steps) < 30 else None  # a lone point: the best one
            axis.plot(steps, values, marker=marker, label=key)
        axis.set_title(panel)
        axis.set_xlabel("step")
        axis.grid(alpha=0.3)
        if len(lines) > 1:
            axis.legend(fontsize="small")
    for axis in list(axes.flat)[len(series) :]:
        axis.set_visible(False)
    if not series:
        axes.flat[0].set_visible(True)
        axes.flat[0].text(0.5, 0.5, "no metric changed during the run", ha="center", va="center")
        axes.flat[0].set_axis_off()
    figure.suptitle(title)
    figure.tight_layout()
    with atomic_path(output) as temporary:
        figure.savefig(temporary, dpi=100)
    plt.close(figure)
    return output


__all__ = ["RunLogger", "metric_panels", "plot_metrics", "read_metrics", "run_title"]
