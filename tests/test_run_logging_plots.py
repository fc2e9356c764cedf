"""curves.png shows only panels with information, under a title naming the run."""

from __future__ import annotations

import json

from versebert.training.run_logging import metric_panels, plot_metrics, run_title

# What a stage-B run logs: curves, a constant learning rate (no warmup), the Trainer's end-of-run
# summary (one point each, and a FLOP counter), and the restored best checkpoint's metrics.
RECORDS = [
    {"step": 0, "time": 1.0, "eval/dev_ndcg@10": 0.010},
    {"step": 5, "time": 2.0, "train/loss": 2.0, "train/learning_rate": 1e-4, "train/epoch": 0.5},
    {"step": 10, "time": 3.0, "train/loss": 1.5, "train/learning_rate": 1e-4, "train/epoch": 1.0,
     "eval/dev_ndcg@10": 0.020},
    {"step": 10, "time": 4.0, "train/train_runtime": 12.5, "train/train_samples_per_second": 40.0,
     "train/total_flos": 1234.0, "best/dev_ndcg@10": 0.020},
]


def write_metrics(path, records=RECORDS):
    path.write_text("".join(json.dumps(record) + "\n" for record in records))
    return path


def test_constant_single_point_flop_and_epoch_panels_are_dropped():
    panels = metric_panels(RECORDS)
    assert sorted(panels) == ["dev_ndcg@10", "loss"]
    assert sorted(panels["dev_ndcg@10"]) == ["best/dev_ndcg@10", "eval/dev_ndcg@10"]  # the best point stays
    assert panels["loss"]["train/loss"] == ([5, 10], [2.0, 1.5])


def test_the_figure_is_titled_with_the_run_and_holds_one_axis_per_panel(tmp_path, monkeypatch):
    from matplotlib.figure import Figure

    saved = []
    original = Figure.savefig
    monkeypatch.setattr(Figure, "savefig", lambda self, *a, **k: (saved.append(self), original(self, *a, **k))[1])
    output = tmp_path / "runs" / "tiny" / "model-run" / "curves.png"
    assert run_title(output) == "tiny/model-run"
    plot_metrics(write_metrics(tmp_path / "metrics.jsonl"), output)
    figure = saved[-1]
    assert figure._suptitle.get_text() == "tiny/model-run"
    assert sorted(axis.get_title() for axis in figure.axes if axis.get_visible()) == ["dev_ndcg@10", "loss"]
    assert output.stat().st_size > 0

    plot_metrics(tmp_path / "metrics.jsonl", tmp_path / "other.png", title="stage B of runs/mini")
    assert saved[-1]._suptitle.get_text() == "stage B of runs/mini"
