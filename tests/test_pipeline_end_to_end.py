"""The whole main job (``versebert train``) on a few hundred real verses with a micro config.

Every stage runs for real (data check, tokenizer, MLM, stage A, stage B, search index and fusion
weights, evaluation, model card) on three books — Ruth, Philippians and 1 John, 294 verses per
translation — so the run takes a couple of minutes instead of hours. Then every output is loaded the
way a user would: the SentenceTransformer and the MLM in a process that cannot import this package,
the search index by ``versebert search``, the reports as JSON/YAML, the curves as PNG.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from tests.test_contrastive import LOAD_SENTENCE_MODELS_WITHOUT_PACKAGE
from tests.test_remote_code import LOAD_WITHOUT_PACKAGE, run_without_our_package

pytestmark = pytest.mark.slow

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "openbible"
BOOKS = {8, 50, 62}  # Ruth, Philippians, 1 John: they hold judged verses and cloze items
MICRO = (
    "model.hidden_size=32",
    "model.num_hidden_layers=2",
    "model.num_attention_heads=2",
    "model.intermediate_size=64",
    "tokenizer.vocab_size=800",
    "mlm.batch_size=16",
    "mlm.max_steps=12",
    "mlm.log_every=4",
    "mlm.eval_every=6",
    "mlm.save_every=6",
    "mlm.eval_max_batches=2",
    "distillation.max_texts=200",
    "distillation.teacher_tuning_epochs=1",  # all-MiniLM-L6-v2 tuned by stage B's 4 steps, then distilled
    "distillation.training.batch_size=16",
    "distillation.training.mini_batch_size=16",
    "distillation.training.max_steps=4",
    "translation_pairs.probe.held_out_per_mille=100",
    "translation_pairs.probe.max_verses=40",
    "translation_pairs.training.batch_size=8",
    "translation_pairs.training.max_steps=4",
    "translation_pairs.training.eval_steps=2",
    "query_pairs.training.batch_size=8",
    "query_pairs.training.max_steps=4",
    "query_pairs.training.eval_steps=2",
)


def _only_three_books(monkeypatch, tmp_path):
    """Every loader reads verses through ``bible._verses``; keep three books there. The data cache
    goes to ``tmp_path`` so the user's cache never holds reports or corpora of this subset."""
    from versebert.data import bible

    monkeypatch.setenv("VERSEBERT_CACHE", str(tmp_path / "cache"))
    whole = bible._verses

    def three_books(code, clean, drop_quotes):
        return tuple(verse for verse in whole(code, clean, drop_quotes) if verse.verse_id // 1_000_000 in BOOKS)

    monkeypatch.setattr(bible, "_verses", three_books)


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    if not SHARED.is_dir():
        pytest.skip("../shared/data/openbible is not beside the repository")
    from versebert.orchestration.pipeline import Pipeline, PipelineConfig

    tmp_path = tmp_path_factory.mktemp("pipeline")
    with pytest.MonkeyPatch.context() as monkeypatch:
        _only_three_books(monkeypatch, tmp_path)
        config = PipelineConfig(
            preset="tiny",
            output=tmp_path / "run",
            train_topics=SHARED / "topic-votes.train.tsv",
            dev_topics=SHARED / "topic-votes.dev.tsv",
            overrides=MICRO,
        )
        first = Pipeline(config).run()
        second = Pipeline(config).run()
    return config.output, first, second


def test_every_stage_runs_once_then_a_rerun_skips_them_all(finished_run):
    _, first, second = finished_run
    stages = ["data-check", "mlm", "teacher-tuning", "distillation", "query-pairs", "search-index", "evaluation",
              "model-card"]
    assert first.ran == stages
    assert second.ran == [] and second.skipped == stages


def test_reports_and_curves_are_written_and_readable(finished_run):
    from PIL import Image

    root, _, _ = finished_run
    data_check = json.loads((root / "data-check.json").read_text())
    assert data_check  # the validation report the exclusions came from
    retrieval = json.loads((root / "evaluation" / "retrieval.json").read_text())
    kinds = {system["kind"] for system in retrieval["systems"]}
    assert {"substring", "bm25", "dense", "hybrid"} <= kinds
    assert retrieval["corpus_verses"] == 294
    for system in retrieval["systems"]:
        assert {"ndcg@10", "precision@10", "recall@100", "mrr@10"} <= system["scores"].keys(), system["name"]
    assert "| " in (root / "evaluation" / "retrieval.md").read_text()
    fusion = json.loads((root / "model" / "versebert_fusion.json").read_text())
    (hybrid,) = [system for system in retrieval["systems"] if system["kind"] == "hybrid"]
    assert hybrid["fusion_weights"]["dense"] == fusion["dense_weight"], "the evaluation ranks with the chosen weights"
    assert hybrid["scores"]["ndcg@10"] == pytest.approx(max(ndcg for _, ndcg in fusion["sweep"]), abs=1e-4)
    cloze = json.loads((root / "evaluation" / "cloze.json").read_text())
    assert cloze["results"], "the cloze items in these books were probed"
    for png in (
        "evaluation/retrieval.png",
        "mlm-run/curves.png",
        "stage-0-distilled-run/curves.png",
        "model-run/curves.png",
    ):
        with Image.open(root / png) as image:
            assert image.width > 100 and image.height > 100, png


def test_the_search_index_answers_with_the_chosen_fusion_weights(finished_run):
    from versebert.retrieval import SearchIndex, VerseSearcher

    root, _, _ = finished_run
    fusion = json.loads((root / "model" / "versebert_fusion.json").read_text())
    with pytest.MonkeyPatch.context() as monkeypatch:
        _only_three_books(monkeypatch, root.parent)
        searcher = VerseSearcher(SearchIndex.load(root / "index"))
        hits = searcher.search("rejoice in the Lord", k=5)
    assert searcher.weights == {signal: fusion[f"{signal}_weight"] for signal in searcher.retrievers}
    assert searcher.retrievers == ("bm25", "dense", "prior", "memory_bm25", "memory_dense")
    assert hits and all(hit.verse_id // 1_000_000 in BOOKS for hit in hits)


def test_model_card_front_matter_parses_with_the_metrics(finished_run):
    root, _, _ = finished_run
    card = (root / "model" / "README.md").read_text()
    front_matter = yaml.safe_load(card.split("---")[1])
    assert front_matter["library_name"] == "sentence-transformers"
    assert "custom_code" in front_matter["tags"]
    results = front_matter["model-index"][0]["results"]
    assert any(metric["type"] == "ndcg_at_10" for result in results for metric in result["metrics"])
    assert "trust_remote_code=True" in card
    assert "distilled from `all-MiniLM-L6-v2 fine-tuned by stage B on the train topics (1 epoch)`" in card


def test_the_distilled_teacher_is_the_tuned_one(finished_run):
    root, _, _ = finished_run
    tuned = json.loads((root / "stage-0-tuned-teacher-run" / "metrics.json").read_text())
    assert tuned["stage"] == "query_pairs" and tuned["model"].endswith("model"), "stage B on the teacher package"
    distilled = json.loads((root / "stage-0-distilled-run" / "metrics.json").read_text())
    assert distilled["config"]["teacher"] == str(root / "stage-0-tuned-teacher")


def test_mlm_checkpoint_loads_as_remote_code(finished_run, tmp_path):
    root, _, _ = finished_run
    texts = ["Rejoice in the Lord always.", "Whither thou goest, I will go."]
    output = tmp_path / "mlm.npz"
    result = run_without_our_package(
        LOAD_WITHOUT_PACKAGE, str(root / "mlm"), json.dumps(texts), str(output), cwd=tmp_path
    )
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert not report["our_package_imported"] and report["tied"]
    assert np.isfinite(np.load(output)["logits"]).all()


def test_search_model_loads_as_remote_code_with_the_same_embeddings(finished_run, tmp_path):
    from sentence_transformers import SentenceTransformer

    root, _, _ = finished_run
    texts = ["Rejoice in the Lord always.", "God is love."]
    output = tmp_path / "embeddings.npz"
    run_without_our_package(
        LOAD_SENTENCE_MODELS_WITHOUT_PACKAGE, json.dumps(texts), str(output), str(root / "model"), cwd=tmp_path
    )
    remote = np.load(output)
    local = SentenceTransformer(str(root / "model"), trust_remote_code=True, device="cpu").encode(texts)
    np.testing.assert_allclose(remote["st0"], local, atol=1e-5)
    np.testing.assert_allclose(remote["auto0"], local, atol=1e-5)  # AutoModel + mean pooling + normalize
    np.testing.assert_allclose(np.linalg.norm(local, axis=1), 1.0, atol=1e-5)
