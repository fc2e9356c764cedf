"""Collect a finished run's facts for the model card from the files its stages wrote."""

from __future__ import annotations

import dataclasses
import json

from ..conventions import METRICS_FILE, PROBE_ACCURACY, dev_metric, work_dir_for
from ..errors import UserError
from ..training.config import DISTILLATION_LOSSES, DistillationConfig
from ..training.warm_start import WarmStartSource
from .model_card import METRIC_NAMES, EvaluationRow, ModelCardFacts
from .run_layout import RunLayout

MLM_SUMMARY_FIELDS = (
    "batch_size",
    "learning_rate",
    "weight_decay",
    "warmup",
    "epochs",
    "max_steps",
    "mask_probability",
    "whole_word_masking",
)
CONTRASTIVE_SUMMARY_FIELDS = ("batch_size", "loss", "symmetric", "learning_rate", "warmup", "epochs")


def _read_json(path) -> dict:
    if not path.exists():
        raise UserError(f"{path} is missing: run the stage that writes it (versebert train) first")
    return json.loads(path.read_text())


def evaluation_rows(report: dict, our_model: str, model_name: str) -> list[EvaluationRow]:
    """Every system of the retrieval report; rows ranking with ``our_model`` are ours, and are named
    after the published model (``versebert-tiny dense``) rather than the run directory they were
    evaluated from (``runs/tiny/model dense``), which means nothing on the Hub."""
    return [
        EvaluationRow(
            f"{model_name} {system['kind']}" if system.get("model") == our_model else system["name"],
            {key: value for key, value in system["scores"].items() if key in METRIC_NAMES},
            ours=system.get("model") == our_model,
        )
        for system in report["systems"]
    ]


# The in-training evaluator's numbers a reader of the card wants from a stage, by their metrics.json keys.
STAGE_CURVE_METRICS = {
    PROBE_ACCURACY: "translation probe accuracy",
    dev_metric("ndcg@10"): "dev NDCG@10",
    dev_metric("mrr@10"): "dev MRR@10",
    dev_metric("recall@100"): "dev Recall@100",
}


def _stage_summary(layout: RunLayout, name: str, settings: dict, fields: tuple[str, ...]) -> dict[str, object]:
    summary = {key: settings[key] for key in fields if settings.get(key) is not None}
    metrics_path = work_dir_for(layout.root / name) / METRICS_FILE
    if metrics_path.exists():
        metrics = json.loads(metrics_path.read_text())
        summary["pairs"] = metrics.get("pairs")
        before, after = metrics.get("before", {}), metrics.get("after", {})
        changes = [
            f"{label} {before[key]:.4f} → {after[key]:.4f}"
            for key, label in STAGE_CURVE_METRICS.items()
            if isinstance(before.get(key), float) and isinstance(after.get(key), float)
        ]
        if changes:
            summary["before → after"] = "; ".join(changes)
    return summary


def _fusion_summary(layout: RunLayout) -> dict[str, object]:
    from ..retrieval.fusion_weights import FusionWeights

    weights = FusionWeights.load(layout.model)
    if weights is None:
        return {"weights": "equal (BM25 1, dense 1)"}
    return {
        "BM25 weight": weights.bm25_weight,
        "dense weight": weights.dense_weight,
        "chosen on": weights.chosen_on,
        "hybrid NDCG@10 by dense weight": {f"{weight:g}": ndcg for weight, ndcg in weights.sweep.items()},
    }


def distillation_data(config: DistillationConfig) -> dict[str, str]:
    """What the student was distilled on and how its batches were drawn, as the card states them."""
    texts = ["the train topics"] if config.include_topics else []
    if config.teacher_words:
        texts.append(f"the words of {config.teacher}'s vocabulary")
    texts.append(" and ".join(config.translations) + " verses")
    if config.phrases_per_verse:
        texts.append(f"up to {config.phrases_per_verse} clause(s) cut from each verse")
    cap = f" (the first {config.max_texts:,})" if config.max_texts else ""
    if config.clusters:
        batches = (f"topic-aware: runs of {config.cluster_rows} texts from one of {config.clusters} clusters "
                   "of the teacher's embeddings")
    elif config.length_group_batches > 1:
        batches = "texts of similar length"
    else:
        batches = "random"
    return {"texts": ", ".join(texts) + cap, "batches": batches}


def training_teachers(preset) -> list[str]:
    """Every model the run learned from at training time (distillation, stage B's soft targets), for
    the card's "distilled from"."""
    names = [preset.distillation.teacher_name] if preset.distillation.enabled else []
    if preset.query_pairs.teacher is not None and preset.query_pairs.teacher not in names:
        names.append(preset.query_pairs.teacher)
    return names


def facts_from_run(layout: RunLayout, preset, *, repo_id: str | None = None) -> ModelCardFacts:
    report = _read_json(layout.retrieval_report)
    config = _read_json(layout.model / "config.json")
    model_name = f"versebert-{preset.name}"
    our_model = next(
        (s["model"] for s in report["systems"] if s["kind"] == "dense" and s["model"] != "all-MiniLM-L6-v2"), None
    )
    mlm = dataclasses.asdict(preset.mlm)
    warm_start = WarmStartSource.load(layout.mlm)
    warm_start_layers = list(warm_start.layers) if warm_start and warm_start.layers else None
    teacher = preset.distillation.teacher_name
    stage_b = preset.query_pairs
    return ModelCardFacts(
        model_name=model_name,
        repo_id=repo_id or f"versebert/{model_name}",
        model_config=config,
        translations=list(preset.data.translations),
        corpus_translation=report["translation"],
        corpus_size=report["corpus_verses"],
        dev_topics=report["judgments"]["topics"],
        evaluation=evaluation_rows(report, our_model, model_name),
        base_model=warm_start.hub_id if warm_start else None,
        warm_started_from=warm_start.name if warm_start else None,
        warm_start_layers=warm_start_layers,
        distilled_from=training_teachers(preset),
        run_dir=str(layout.root),
        training={
            "MLM pre-training (dynamic 80/10/10 masking, AdamW, warmup + linear decay, clipping 1.0)": {
                key: mlm[key] for key in MLM_SUMMARY_FIELDS if mlm.get(key) is not None
            }
            | ({"warm start": warm_start.name} if warm_start else {})
            | ({"warm start layers": warm_start_layers} if warm_start_layers else {}),
            **(
                {
                    f"Teacher tuning: {preset.distillation.teacher} trained by stage B on the train topics": (
                        _stage_summary(layout, layout.tuned_teacher.name,
                                       dataclasses.asdict(preset.teacher_tuning.training), CONTRASTIVE_SUMMARY_FIELDS)
                    )
                }
                if preset.teacher_tuning is not None
                else {}
            ),
            **(
                {
                    f"Distillation from {teacher} ({DISTILLATION_LOSSES[preset.distillation.loss]})": (
                        _stage_summary(
                            layout,
                            layout.distilled.name,
                            dataclasses.asdict(preset.distillation.training),
                            CONTRASTIVE_SUMMARY_FIELDS,
                        )
                    )
                    | {"loss": preset.distillation.loss}
                    | distillation_data(preset.distillation)
                }
                if preset.distillation.enabled
                else {}
            ),
            **(
                {
                    "Stage A: same verse in two translations (MultipleNegativesRankingLoss, verse-aware batches)": (
                        _stage_summary(
                            layout,
                            layout.translation_pairs.name,
                            dataclasses.asdict(preset.translation_pairs.training),
                            CONTRASTIVE_SUMMARY_FIELDS,
                        )
                    )
                }
                if preset.translation_pairs.enabled
                else {}
            ),
            "Stage B: OpenBible train topic → verse (MultipleNegativesRankingLoss, best by dev NDCG@10)": (
                _stage_summary(
                    layout,
                    layout.model.name,
                    dataclasses.asdict(stage_b.training),
                    CONTRASTIVE_SUMMARY_FIELDS,
                )
                | (
                    {"teacher soft targets": f"{stage_b.teacher} (weight {stage_b.teacher_weight:g}, "
                                             f"temperature {stage_b.teacher_temperature:g})"}
                    if stage_b.teacher is not None
                    else {}
                )
            ),
            "Hybrid search: Reciprocal Rank Fusion of BM25 and dense, weights chosen by hybrid NDCG@10": (
                _fusion_summary(layout)
            ),
        },
    )
