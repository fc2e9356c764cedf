"""The rendered model card: valid YAML metadata with the metrics, and usage that really loads."""

from __future__ import annotations

import json

import pytest
import yaml

from modeling_versebert import VerseBertConfig
from versebert.orchestration.model_card import EvaluationRow, ModelCardFacts, render_model_card


def facts(**overrides):
    values = dict(
        model_name="versebert-tiny",
        repo_id="org/versebert-tiny",
        model_config=VerseBertConfig(hidden_size=128, num_attention_heads=2).to_dict(),
        translations=["KJV", "WEB"],
        corpus_translation="WEB",
        corpus_size=31098,
        dev_topics=340,
        evaluation=[
            EvaluationRow("BM25", {"ndcg@10": 0.095, "recall@100": 0.3}),
            EvaluationRow("VerseBERT hybrid", {"ndcg@10": 0.1234, "mrr@10": 0.2}, ours=True),
        ],
        training={"MLM": {"steps": 1000, "learning rate": 5e-4}},
    )
    return ModelCardFacts(**{**values, **overrides})


def split_card(card: str):
    assert card.startswith("---\n")
    header, body = card[4:].split("\n---\n", 1)
    return yaml.safe_load(header), body


def test_card_metadata_parses_and_carries_metrics():
    metadata, body = split_card(render_model_card(facts()))
    assert metadata["library_name"] == "sentence-transformers"
    assert metadata["pipeline_tag"] == "sentence-similarity"
    assert "custom_code" in metadata["tags"] and metadata["language"] == ["en"]
    results = metadata["model-index"][0]["results"]
    assert len(results) == 1  # only our systems go into model-index
    assert {m["type"]: m["value"] for m in results[0]["metrics"]} == {"ndcg_at_10": 0.1234, "mrr_at_10": 0.2}
    assert "| **VerseBERT hybrid** | 0.1234 |" in body
    assert "| BM25 | 0.0950 |" in body


def test_card_usage_shows_trust_remote_code_and_attribution():
    _, body = split_card(render_model_card(facts()))
    assert body.count("trust_remote_code=True") >= 3
    assert 'SentenceTransformer("org/versebert-tiny", trust_remote_code=True)' in body
    assert "www.openbible.info/topics" in body and "CC-BY" in body
    assert "${" not in body


def test_card_refuses_missing_evaluation_and_unknown_metrics():
    with pytest.raises(ValueError, match="evaluation"):
        facts(evaluation=[])
    with pytest.raises(ValueError, match="unknown metrics"):
        facts(evaluation=[EvaluationRow("x", {"bleu": 1.0})])


def test_card_template_placeholders_must_all_be_filled():
    with pytest.raises(KeyError):
        render_model_card(facts(), template="${metadata}\n${not_a_fact}")


def test_a_warm_started_model_names_its_base_model_and_a_scratch_one_says_so():
    metadata, body = split_card(render_model_card(facts()))
    assert "base_model" not in metadata and "trained from scratch" in body

    hub_id = "sentence-transformers/all-MiniLM-L6-v2"
    metadata, body = split_card(render_model_card(facts(base_model=hub_id, warm_started_from=hub_id)))
    assert metadata["base_model"] == hub_id
    assert f"warm-started from [{hub_id}](https://huggingface.co/{hub_id})" in body
    assert "from scratch" not in body

    metadata, body = split_card(render_model_card(facts(warm_started_from="my-bert")))
    assert "base_model" not in metadata and "warm-started from `my-bert`" in body

    body = split_card(render_model_card(facts(base_model=hub_id, warm_started_from=hub_id,
                                              warm_start_layers=[1, 3, 5])))[1]
    assert f"warm-started from layers 1, 3 and 5 of [{hub_id}]" in body


def test_a_distilled_model_names_its_teacher_as_training_time_only():
    metadata, body = split_card(render_model_card(facts(distilled_from=["all-MiniLM-L6-v2"])))
    assert "trained from scratch, distilled from `all-MiniLM-L6-v2` (a training-time teacher only" in body
    assert "base_model" not in metadata, "a teacher is not a base model: no weights were taken from it"
    body = split_card(render_model_card(facts(distilled_from=["all-MiniLM-L6-v2", "/models/tuned"])))[1]
    assert ("distilled from `all-MiniLM-L6-v2` and `/models/tuned` (training-time teachers only: they are not "
            "needed") in body
    recorded = json.loads(facts(distilled_from=["all-MiniLM-L6-v2"]).to_json())
    for older, teachers in (("all-MiniLM-L6-v2", ["all-MiniLM-L6-v2"]), (None, [])):  # facts of earlier runs
        assert ModelCardFacts.from_json(json.dumps(recorded | {"distilled_from": older})).distilled_from == teachers


def test_stage_summary_reads_the_recorded_curve_as_before_to_after(tmp_path):
    import json

    from versebert.orchestration.model_card_facts import _stage_summary
    from versebert.orchestration.run_layout import RunLayout

    (tmp_path / "model-run").mkdir()
    (tmp_path / "model-run" / "metrics.json").write_text(json.dumps({
        "pairs": 11311,
        "before": {"probe_accuracy": 0.9165, "dev_cosine_ndcg@10": 0.00956, "dev_cosine_map@100": 0.0047},
        "after": {"probe_accuracy": 0.862, "dev_cosine_ndcg@10": 0.01883, "dev_cosine_map@100": 0.0079},
    }))
    summary = _stage_summary(RunLayout(tmp_path), "model", {"epochs": 3, "loss": None}, ("epochs", "loss"))
    assert summary == {
        "epochs": 3,
        "pairs": 11311,
        "before → after": "translation probe accuracy 0.9165 → 0.8620; dev NDCG@10 0.0096 → 0.0188",
    }


def test_card_metadata_is_hub_model_card_data_with_a_widget_and_no_unfindable_dataset():
    from huggingface_hub import ModelCard

    data = ModelCard(render_model_card(facts())).data
    assert [(r.task_name, r.metric_type, r.metric_value, r.dataset_split) for r in data.eval_results] == [
        ("Verse retrieval (VerseBERT hybrid)", "ndcg_at_10", 0.1234, "dev"),
        ("Verse retrieval (VerseBERT hybrid)", "mrr_at_10", 0.2, "dev"),
    ]
    assert data.datasets is None  # the topic votes are not on the Hub; the text links their source
    assert data.widget[0]["source_sentence"] == "give you a new heart" and len(data.widget[0]["sentences"]) == 3


def test_card_sentence_transformers_snippet_runs_as_written(tmp_path):
    """The snippet uses encode_query/encode_document; run it against a local model in place of the repo id."""
    import re

    from tests.test_retrieval_support import build_tiny_sentence_transformer

    model_dir = build_tiny_sentence_transformer(tmp_path, seed=0)
    _, body = split_card(render_model_card(facts(repo_id=str(model_dir))))
    snippet = re.search(r"```python\n(from sentence_transformers.*?)```", body, re.S).group(1)
    assert "model.encode_query(" in snippet and "model.encode_document(" in snippet
    namespace: dict = {}
    exec(compile(snippet.replace("print(", "result = ("), "card-snippet", "exec"), namespace)
    assert tuple(namespace["result"].shape) == (1, 1)


def test_writing_a_runs_card_documents_the_run_and_records_the_facts(tmp_path):
    import json

    from versebert.orchestration.model_card import FACTS_FILE, ModelCardFacts, load_facts, write_model_card

    run = tmp_path / "runs" / "tiny"
    (run / "model").mkdir(parents=True)
    (run / "mlm").mkdir()
    # as facts_from_run reads it: config.json's JSON (whose label ids are strings)
    model_config = json.loads(json.dumps(facts().model_config))
    run_facts = facts(run_dir=str(run), model_config=model_config)
    write_model_card(run_facts, run / "model" / "README.md")

    assert load_facts(run) == run_facts == ModelCardFacts.from_json((run / FACTS_FILE).read_text())
    readme = (run / "README.md").read_text()
    for folder in ("`model/`", "`mlm/`", "`index/`", "`evaluation/`", "`mlm-run/`", "`model-run/`"):
        assert folder in readme, folder
    assert f"versebert search \"give you a new heart\" --index {run}/index" in readme
    assert f"versebert push --repo-id org/versebert-tiny {run} --dry-run" in readme
    assert f'SearchIndex.load("{run}/index")' in readme
    mlm_metadata, mlm_body = split_card((run / "mlm" / "README.md").read_text())
    assert mlm_metadata["pipeline_tag"] == "fill-mask" and "custom_code" in mlm_metadata["tags"]
    assert 'subfolder="mlm", trust_remote_code=True' in mlm_body and "${" not in mlm_body

    # A card rendered for its own sake (no run) writes nothing else.
    write_model_card(facts(), tmp_path / "card.md")
    assert sorted(path.name for path in tmp_path.iterdir()) == ["card.md", "runs"]


def finished_run(tmp_path):
    """The files a finished run's stages leave for the model-card stage."""
    import json

    from versebert.orchestration.run_layout import RunLayout

    layout = RunLayout(tmp_path / "run")
    layout.model.mkdir(parents=True)
    layout.evaluation.mkdir()
    (layout.model / "config.json").write_text(json.dumps(VerseBertConfig(hidden_size=128, num_attention_heads=2)
                                                         .to_dict()))
    model = str(layout.model)
    layout.retrieval_report.write_text(json.dumps({
        "translation": "WEB", "corpus_verses": 31095, "judgments": {"topics": 340},
        "systems": [
            {"name": "BM25", "kind": "bm25", "model": None, "scores": {"ndcg@10": 0.0949}},
            {"name": "tiny dense", "kind": "dense", "model": model, "scores": {"ndcg@10": 0.016, "mrr@10": 0.05}},
        ],
    }))
    return layout


def test_facts_from_a_finished_run_render_the_run_readme(tmp_path):
    """The model-card stage's path: facts collected from the files the stages wrote, then every document."""
    from versebert.orchestration.model_card import write_model_card
    from versebert.orchestration.model_card_facts import facts_from_run
    from versebert.training.config import load_preset

    layout = finished_run(tmp_path)
    facts = facts_from_run(layout, load_preset("tiny"), repo_id="org/tiny")
    assert facts.run_dir == str(layout.root) and facts.repo_id == "org/tiny"
    assert [(row.system, row.ours) for row in facts.evaluation] == [("BM25", False), ("versebert-tiny dense", True)]
    assert any(key.startswith("Stage B") for key in facts.training)
    write_model_card(facts, layout.model_card)
    assert "versebert push --repo-id org/tiny" in (layout.root / "README.md").read_text()


def test_the_card_lists_the_stages_the_run_had_and_names_the_distillation_loss(tmp_path):
    from versebert.orchestration.model_card_facts import facts_from_run
    from versebert.training.config import load_preset

    layout = finished_run(tmp_path)
    with_a = facts_from_run(layout, load_preset("tiny", ["translation_pairs.enabled=true"]), repo_id=None)
    assert any(key.startswith("Stage A") for key in with_a.training)
    preset = load_preset("tiny", ["translation_pairs.enabled=false", "distillation.enabled=true",
                                  "distillation.loss=kl"])
    stages = list(facts_from_run(layout, preset, repo_id=None).training)
    assert not any(key.startswith("Stage A") for key in stages), "a stage the run skipped is not on its card"
    assert "Distillation from all-MiniLM-L6-v2 (KL divergence of in-batch similarity distributions)" in stages
    tuned = load_preset("tiny", ["distillation.enabled=true", "distillation.loss=kl",
                                 "distillation.teacher_tuning_epochs=1"])
    tuned_facts = facts_from_run(layout, tuned, repo_id=None)
    teacher = "all-MiniLM-L6-v2 fine-tuned by stage B on the train topics (1 epoch)"
    assert tuned_facts.distilled_from == [teacher] and f"Distillation from {teacher} (KL" in next(
        key for key in tuned_facts.training if key.startswith("Distillation"))
    assert any(key.startswith("Teacher tuning: all-MiniLM-L6-v2") for key in tuned_facts.training)


def test_the_card_says_what_the_student_was_distilled_on_and_how_batches_were_drawn(tmp_path):
    from versebert.orchestration.model_card_facts import facts_from_run
    from versebert.training.config import load_preset

    layout = finished_run(tmp_path)

    def distillation_of(*overrides):
        preset = load_preset("tiny", ["distillation.enabled=true", *overrides])
        training = facts_from_run(layout, preset, repo_id=None).training
        return next(value for key, value in training.items() if key.startswith("Distillation"))

    plain = distillation_of("distillation.teacher_words=false", "distillation.clusters=0",
                            "distillation.length_group_batches=1")
    assert plain["batches"] == "random" and "vocabulary" not in plain["texts"]
    assert plain["texts"].startswith("the train topics, WEB and KJV verses")
    clustered = distillation_of("distillation.teacher_words=true", "distillation.clusters=300",
                                "distillation.cluster_rows=16", "distillation.length_group_batches=1")
    assert "the words of all-MiniLM-L6-v2's vocabulary" in clustered["texts"]
    assert clustered["batches"] == "topic-aware: runs of 16 texts from one of 300 clusters of the teacher's embeddings"
