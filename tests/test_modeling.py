"""Behaviour of the VerseBERT network: each test guards one silent bug of from-scratch encoders."""

from __future__ import annotations

import math

import pytest
import torch
from safetensors import safe_open

from modeling_versebert import (
    VerseBertConfig,
    VerseBertForMaskedLM,
    VerseBertForPreTraining,
    VerseBertForSequenceClassification,
    VerseBertForTokenClassification,
    VerseBertModel,
    sinusoidal_positions,
)

IMPLEMENTATIONS = ["eager", "sdpa"]


def build(model_class, config, implementation="sdpa", seed=0):
    torch.manual_seed(seed)
    config._attn_implementation = implementation
    return model_class(config).eval()


def random_ids(batch, length, vocab=99, seed=0):
    generator = torch.Generator().manual_seed(seed)
    return torch.randint(5, vocab, (batch, length), generator=generator)


# 1. Padding ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
def test_padding_does_not_change_real_token_outputs(tiny_config, implementation):
    model = build(VerseBertModel, tiny_config, implementation)
    short, long = random_ids(1, 6, seed=1), random_ids(1, 11, seed=2)
    with torch.no_grad():
        alone = model(short).last_hidden_state
        padded_ids = torch.cat([torch.cat([short, torch.zeros(1, 5, dtype=torch.long)], 1), long])
        mask = torch.ones_like(padded_ids)
        mask[0, 6:] = 0
        in_batch = model(padded_ids, attention_mask=mask).last_hidden_state
        # Garbage in padded slots must not leak into real tokens either.
        garbage_ids = padded_ids.clone()
        garbage_ids[0, 6:] = random_ids(1, 5, seed=3)
        with_garbage = model(garbage_ids, attention_mask=mask).last_hidden_state
        long_alone = model(long).last_hidden_state
    torch.testing.assert_close(in_batch[0, :6], alone[0], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(with_garbage[0, :6], alone[0], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(in_batch[1], long_alone[0], atol=1e-5, rtol=1e-5)


# 2. Bidirectionality --------------------------------------------------------------------------------


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
@pytest.mark.parametrize("padded", [False, True], ids=["unpadded", "padded"])
def test_changing_last_token_changes_first_token_output(tiny_config, implementation, padded):
    model = build(VerseBertModel, tiny_config, implementation)
    ids = random_ids(2, 8)
    mask = torch.ones_like(ids)
    last = 7
    if padded:
        mask[0, 5:] = 0
        ids[0, 5:] = 0
        last = 4
    changed = ids.clone()
    changed[0, last] = (ids[0, last] + 1 - 5) % 94 + 5
    with torch.no_grad():
        before = model(ids, attention_mask=mask).last_hidden_state
        after = model(changed, attention_mask=mask).last_hidden_state
    assert (before[0, 0] - after[0, 0]).abs().max() > 1e-4, "the first token did not see the last one"
    torch.testing.assert_close(before[1], after[1])  # the other sequence is untouched


def test_attention_modules_declare_non_causal(tiny_config):
    model = build(VerseBertModel, tiny_config)
    assert all(layer.attention.is_causal is False for layer in model.layers)


# 3. Eager vs SDPA -----------------------------------------------------------------------------------


@pytest.mark.parametrize("padded", [False, True], ids=["unpadded", "padded"])
def test_eager_and_sdpa_agree(tiny_config, padded):
    """fp32 kernels differ only by summation order: 1e-5 is ~100x float32 epsilon at these scales."""
    ids = random_ids(3, 12)
    mask = torch.ones_like(ids)
    if padded:
        mask[0, 7:] = 0
        mask[2, 3:] = 0
    eager = build(VerseBertModel, tiny_config, "eager", seed=4)
    sdpa = build(VerseBertModel, VerseBertConfig(**tiny_config.to_dict()), "sdpa", seed=4)
    with torch.no_grad():
        a = eager(ids, attention_mask=mask).last_hidden_state
        b = sdpa(ids, attention_mask=mask).last_hidden_state
    real = mask.bool()
    torch.testing.assert_close(a[real], b[real], atol=1e-5, rtol=1e-5)


# 4. Dropout -----------------------------------------------------------------------------------------


def test_embedding_dropout_zeroes_configured_fraction_and_rescales(tiny_config):
    p = 0.3
    config = VerseBertConfig(**{**tiny_config.to_dict(), "hidden_dropout_prob": p})
    model = build(VerseBertModel, config)
    ids = random_ids(16, 64)
    with torch.no_grad():
        clean = model.embeddings(ids, None, None)
        model.train()
        noisy = model.embeddings(ids, None, None)
    dropped = noisy == 0
    n = dropped.numel()
    fraction = dropped.float().mean().item()
    assert abs(fraction - p) < 4 * math.sqrt(p * (1 - p) / n), f"dropped {fraction:.4f}, configured {p}"
    torch.testing.assert_close(noisy[~dropped], clean[~dropped] / (1 - p))


def test_attention_dropout_zeroes_configured_fraction_and_rescales(tiny_config):
    p = 0.2
    config = VerseBertConfig(**{**tiny_config.to_dict(), "attention_probs_dropout_prob": p})
    model = build(VerseBertModel, config, "eager")
    ids = random_ids(8, 32)
    with torch.no_grad():
        clean = model(ids, output_attentions=True).attentions[0]
        model.train()
        noisy = model(ids, output_attentions=True).attentions[0]
    dropped = noisy == 0
    fraction = dropped.float().mean().item()
    assert abs(fraction - p) < 4 * math.sqrt(p * (1 - p) / dropped.numel())
    torch.testing.assert_close(noisy[~dropped], clean[~dropped] / (1 - p))


def test_every_dropout_module_uses_its_configured_rate(tiny_config):
    config = VerseBertConfig(
        **{**tiny_config.to_dict(), "hidden_dropout_prob": 0.15, "attention_probs_dropout_prob": 0.05}
    )
    model = build(VerseBertModel, config)
    assert model.embeddings.dropout.p == 0.15
    assert all(layer.dropout.p == 0.15 and layer.attention.attention_dropout == 0.05 for layer in model.layers)


def test_eval_mode_is_deterministic(tiny_config):
    config = VerseBertConfig(
        **{**tiny_config.to_dict(), "hidden_dropout_prob": 0.5, "attention_probs_dropout_prob": 0.5}
    )
    model = build(VerseBertModel, config)
    ids = random_ids(2, 9)
    with torch.no_grad():
        torch.testing.assert_close(model(ids).last_hidden_state, model(ids).last_hidden_state, atol=0, rtol=0)
        model.train()
        assert not torch.equal(model(ids).last_hidden_state, model(ids).last_hidden_state)


# 5. Tied output head --------------------------------------------------------------------------------


def assert_tied(model: VerseBertForMaskedLM):
    decoder, embedding = model.lm_head.decoder.weight, model.versebert.embeddings.word_embeddings.weight
    assert decoder.data_ptr() == embedding.data_ptr()
    assert decoder.shape == embedding.shape


def test_decoder_shares_storage_with_input_embeddings(tiny_config):
    model = build(VerseBertForMaskedLM, tiny_config)
    assert_tied(model)
    with torch.no_grad():
        model.versebert.embeddings.word_embeddings.weight[7, 0] = 42.0
    assert model.lm_head.decoder.weight[7, 0] == 42.0


def test_decoder_stays_tied_after_reload_and_is_stored_once(tiny_config, tmp_path):
    model = build(VerseBertForMaskedLM, tiny_config)
    model.save_pretrained(tmp_path)
    with safe_open(tmp_path / "model.safetensors", "pt") as checkpoint:
        keys = set(checkpoint.keys())
    assert "versebert.embeddings.word_embeddings.weight" in keys
    assert "lm_head.decoder.weight" not in keys
    assert "lm_head.decoder.bias" in keys
    reloaded = VerseBertForMaskedLM.from_pretrained(tmp_path).eval()
    assert_tied(reloaded)
    ids = random_ids(2, 7)
    with torch.no_grad():
        torch.testing.assert_close(reloaded(ids).logits, model(ids).logits)


def test_decoder_stays_tied_after_resize_token_embeddings(tiny_config):
    model = build(VerseBertForMaskedLM, tiny_config)
    model.resize_token_embeddings(120)
    assert_tied(model)
    assert model.lm_head.decoder.bias.shape == (120,)
    assert model.config.vocab_size == 120
    with torch.no_grad():
        logits = model(torch.tensor([[119, 5, 6]])).logits
    assert logits.shape == (1, 3, 120)


def test_untied_config_unties_head(tiny_config):
    config = VerseBertConfig(**{**tiny_config.to_dict(), "tie_word_embeddings": False})
    model = build(VerseBertForMaskedLM, config)
    assert model.lm_head.decoder.weight.data_ptr() != model.versebert.embeddings.word_embeddings.weight.data_ptr()


# 6. Positions ---------------------------------------------------------------------------------------


def test_sinusoid_matches_the_formula():
    table = sinusoidal_positions(50, 16)
    pos, i = 37, 3
    assert table[pos, 2 * i].item() == pytest.approx(math.sin(pos / 10000 ** (2 * i / 16)), abs=1e-5)
    assert table[pos, 2 * i + 1].item() == pytest.approx(math.cos(pos / 10000 ** (2 * i / 16)), abs=1e-5)
    assert sinusoidal_positions(10, 7).shape == (10, 7)  # odd widths work


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_position_table_reloads_as_the_analytic_sinusoid(tiny_config, tmp_path, dtype):
    build(VerseBertForMaskedLM, tiny_config).save_pretrained(tmp_path)
    expected = sinusoidal_positions(tiny_config.max_position_embeddings, tiny_config.hidden_size).to(dtype)
    loaded_in_dtype = VerseBertForMaskedLM.from_pretrained(tmp_path, dtype=dtype)
    cast_after_load = VerseBertForMaskedLM.from_pretrained(tmp_path).to(dtype)
    for model in (loaded_in_dtype, cast_after_load):
        table = model.versebert.embeddings.position_table
        assert torch.isfinite(table).all()
        torch.testing.assert_close(table.to(dtype), expected, atol=0, rtol=0)


def test_positions_have_no_parameters_and_are_not_saved(tiny_config):
    model = build(VerseBertForMaskedLM, tiny_config)
    assert not [name for name, _ in model.named_parameters() if "position" in name]
    assert not [name for name in model.state_dict() if "position" in name]


def test_position_changes_output(tiny_config):
    """Without positions a bag of tokens is permutation-equivariant; with them it is not."""
    model = build(VerseBertModel, tiny_config)
    ids = random_ids(1, 6)
    swapped = ids[:, [1, 0, 2, 3, 4, 5]]
    with torch.no_grad():
        a, b = model(ids).last_hidden_state, model(swapped).last_hidden_state
    assert (a[0, 0] - b[0, 1]).abs().max() > 1e-4


# 8-10. Learning -------------------------------------------------------------------------------------


def word_vocabulary(texts):
    words = sorted({w for t in texts for w in t.lower().split()})
    return {w: i + 5 for i, w in enumerate(words)}  # 0-4 are the special ids


def test_tiny_model_memorizes_ten_verses(tiny_config):
    from tests.conftest import TINY_VERSES

    vocab = word_vocabulary(TINY_VERSES)
    length = max(len(v.split()) for v in TINY_VERSES) + 2
    ids = torch.zeros(len(TINY_VERSES), length, dtype=torch.long)
    for row, verse in enumerate(TINY_VERSES):
        tokens = [2] + [vocab[w] for w in verse.lower().split()] + [3]
        ids[row, : len(tokens)] = torch.tensor(tokens)
    attention = (ids != 0).long()
    real = (ids > 4).bool()
    config = VerseBertConfig(
        **{**tiny_config.to_dict(), "vocab_size": len(vocab) + 5, "hidden_size": 64, "intermediate_size": 128}
    )
    torch.manual_seed(0)
    model = VerseBertForMaskedLM(config).train()
    steps = 600
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1 - step / steps)
    generator = torch.Generator().manual_seed(0)
    for _ in range(steps):
        chosen = (torch.rand(ids.shape, generator=generator) < 0.25) & real
        labels = torch.where(chosen, ids, -100)
        loss = model(ids.masked_fill(chosen, 4), attention_mask=attention, labels=labels).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
    # Evaluate on every single-token mask of every verse: the model must recall each word.
    model.eval()
    losses = []
    with torch.no_grad():
        for position in range(1, length):
            chosen = torch.zeros_like(real)
            chosen[:, position] = real[:, position]
            if chosen.any():
                labels = torch.where(chosen, ids, -100)
                losses.append(model(ids.masked_fill(chosen, 4), attention_mask=attention, labels=labels).loss)
    assert torch.stack(losses).mean() < 0.05


def test_every_parameter_gets_a_gradient_from_the_mlm_loss(tiny_config):
    model = build(VerseBertForMaskedLM, tiny_config).train()
    ids = random_ids(4, 10)
    labels = torch.full_like(ids, -100)
    labels[:, [2, 5]] = ids[:, [2, 5]]
    model(ids, token_type_ids=torch.zeros_like(ids), labels=labels).loss.backward()
    missing = [name for name, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert not missing, f"no gradient reaches {missing}"


def test_mlm_loss_ignores_unlabelled_positions_and_is_not_shifted(tiny_config):
    model = build(VerseBertForMaskedLM, tiny_config)
    ids = random_ids(2, 8)
    labels = torch.full_like(ids, -100)
    labels[0, 3], labels[1, 6] = 17, 23
    with torch.no_grad():
        output = model(ids, labels=labels)
        logits = output.logits
    expected = torch.nn.functional.cross_entropy(torch.stack([logits[0, 3], logits[1, 6]]), torch.tensor([17, 23]))
    torch.testing.assert_close(output.loss, expected)
    shifted = torch.nn.functional.cross_entropy(torch.stack([logits[0, 2], logits[1, 5]]), torch.tensor([17, 23]))
    assert not torch.allclose(output.loss, shifted)


def test_masked_only_projection_gives_the_full_projection_loss(tiny_config):
    model = build(VerseBertForMaskedLM, tiny_config)
    ids = random_ids(3, 9)
    labels = torch.full_like(ids, -100)
    labels[0, 1], labels[1, 4], labels[2, 8] = 11, 12, 13
    with torch.no_grad():
        full = model(ids, labels=labels)
        masked = model(ids, labels=labels, project_masked_only=True)
    assert masked.logits.shape == (3, tiny_config.vocab_size)
    torch.testing.assert_close(masked.loss, full.loss)
    torch.testing.assert_close(masked.logits, full.logits[labels != -100])


def test_gradient_checkpointing_gives_the_same_gradients(tiny_config):
    ids = random_ids(2, 8)
    labels = ids.clone()
    grads = []
    for checkpointing in (False, True):
        model = build(VerseBertForMaskedLM, VerseBertConfig(**tiny_config.to_dict())).train()
        if checkpointing:
            model.activation_checkpointing_enable()
        model(ids, labels=labels).loss.backward()
        grads.append(model.versebert.layers[0].attention.qkv.weight.grad)
    torch.testing.assert_close(grads[0], grads[1])


# Heads ----------------------------------------------------------------------------------------------


def test_pretraining_head_adds_next_sentence_loss_only_when_enabled(tiny_config):
    ids, labels = random_ids(2, 6), random_ids(2, 6, seed=9)
    without = build(VerseBertForPreTraining, tiny_config)
    assert without.next_sentence is None
    assert without(ids, labels=labels).seq_relationship_logits is None
    with pytest.raises(ValueError, match="use_next_sentence_head"):
        without(ids, labels=labels, next_sentence_label=torch.tensor([0, 1]))
    config = VerseBertConfig(**{**tiny_config.to_dict(), "use_next_sentence_head": True})
    with_head = build(VerseBertForPreTraining, config)
    mlm_only = with_head(ids, labels=labels).loss
    both = with_head(ids, labels=labels, next_sentence_label=torch.tensor([0, 1]))
    assert both.seq_relationship_logits.shape == (2, 2)
    assert both.loss > mlm_only


def test_sequence_and_token_classification_heads(tiny_config):
    config = VerseBertConfig(**{**tiny_config.to_dict(), "num_labels": 3})
    ids = random_ids(2, 6)
    sequence = build(VerseBertForSequenceClassification, config)(ids, labels=torch.tensor([0, 2]))
    assert sequence.logits.shape == (2, 3) and sequence.loss > 0
    token_labels = torch.tensor([[0, 1, 2, -100, -100, -100], [2, 2, 1, 0, 1, -100]])
    tokens = build(VerseBertForTokenClassification, config)(ids, labels=token_labels)
    assert tokens.logits.shape == (2, 6, 3) and tokens.loss > 0


def test_outputs_hidden_states_and_attentions(tiny_config):
    model = build(VerseBertModel, tiny_config, "eager")
    output = model(random_ids(2, 5), output_hidden_states=True, output_attentions=True)
    assert len(output.hidden_states) == tiny_config.num_hidden_layers + 1
    assert output.attentions[0].shape == (2, 4, 5, 5)
    torch.testing.assert_close(output.attentions[0].sum(-1), torch.ones(2, 4, 5))


def test_auto_classes_resolve_to_versebert(tiny_config):
    from transformers import AutoConfig, AutoModel, AutoModelForMaskedLM

    assert isinstance(AutoConfig.for_model("versebert"), VerseBertConfig)
    assert isinstance(AutoModel.from_config(tiny_config), VerseBertModel)
    assert isinstance(AutoModelForMaskedLM.from_config(tiny_config), VerseBertForMaskedLM)


def test_every_head_of_the_model_file_is_registered_and_mapped(tiny_config):
    import transformers

    import modeling_versebert
    from modeling_versebert import AUTO_MAP
    from modeling_versebert import modeling_versebert as modeling

    heads = {name for name in modeling.__all__ if name.startswith("VerseBertFor")} | {"VerseBertModel"}
    mapped = {target.rpartition(".")[2] for auto, target in AUTO_MAP.items() if auto != "AutoConfig"}
    assert heads == mapped, "a head missing from AUTO_MAP would not load through Auto classes or remote code"
    for auto_name, target in AUTO_MAP.items():
        if auto_name != "AutoConfig":
            model = getattr(transformers, auto_name).from_config(tiny_config)
            assert type(model).__name__ == target.rpartition(".")[2]
            assert hasattr(modeling_versebert, type(model).__name__)


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
def test_torch_export_of_the_encoder_matches_eager(tiny_config, implementation):
    model = build(VerseBertModel, tiny_config, implementation)

    class Encoder(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, input_ids, attention_mask):
            return self.inner(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state

    ids = random_ids(2, 7)
    mask = torch.ones_like(ids)
    mask[1, 5:] = 0
    exported = torch.export.export(Encoder(model), (ids, mask))
    torch.testing.assert_close(exported.module()(ids, mask), Encoder(model)(ids, mask))


# 11. Bad input --------------------------------------------------------------------------------------


def test_too_long_input_is_rejected_with_a_clear_message(tiny_config):
    model = build(VerseBertModel, tiny_config)
    with pytest.raises(ValueError, match="max_position_embeddings=64"):
        model(random_ids(1, 65))


def test_out_of_vocabulary_ids_are_rejected(tiny_config):
    model = build(VerseBertModel, tiny_config)
    with pytest.raises(ValueError, match="another tokenizer"):
        model(torch.tensor([[5, 150]]))
    model.train()  # on the CPU the check costs nothing, so training keeps it too
    with pytest.raises(ValueError, match="another tokenizer"):
        model(torch.tensor([[5, 150]]))


def test_mismatched_mask_and_sdpa_attention_weights_are_rejected(tiny_config):
    model = build(VerseBertModel, tiny_config, "sdpa")
    with pytest.raises(ValueError, match="attention_mask has shape"):
        model(random_ids(2, 5), attention_mask=torch.ones(2, 4, dtype=torch.long))
    with pytest.raises(ValueError, match="eager"):
        model(random_ids(2, 5), output_attentions=True)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("hidden_size", 30),
        ("num_hidden_layers", 0),
        ("vocab_size", -1),
        ("hidden_dropout_prob", 1.0),
        ("attention_probs_dropout_prob", -0.1),
        ("classifier_dropout", 1.5),
    ],
)
def test_invalid_config_values_name_the_field(field, value):
    kwargs = {"hidden_size": 32, "num_attention_heads": 4, field: value}
    with pytest.raises(ValueError, match=field):
        VerseBertConfig(**kwargs)


def test_checkpoint_of_another_model_type_is_refused(tmp_path):
    from transformers import BertConfig, BertModel

    BertModel(
        BertConfig(vocab_size=99, hidden_size=32, num_hidden_layers=1, num_attention_heads=4, intermediate_size=37)
    ).save_pretrained(tmp_path)
    with pytest.raises(ValueError, match="'bert' checkpoint, not 'versebert'"):
        VerseBertForMaskedLM.from_pretrained(tmp_path)
