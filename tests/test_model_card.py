"""The rendered model card: valid YAML metadata with the metrics, and usage that really loads."""

from __future__ import annotations

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
