"""VerseBERT: a BERT-style encoder with pre-LayerNorm blocks and fixed sinusoidal positions.

Reads top to bottom like the model: sinusoid → embeddings → attention → feed-forward → block →
pre-trained base → bare model → task heads. This file travels with every checkpoint as remote code,
so it imports only torch, transformers and (relatively) its configuration.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F
from transformers import initialization as init
from transformers.activations import ACT2FN
from transformers.masking_utils import create_bidirectional_mask
from transformers.modeling_layers import GradientCheckpointingLayer
from transformers.modeling_outputs import (
    BaseModelOutput,
    MaskedLMOutput,
    ModelOutput,
    SequenceClassifierOutput,
    TokenClassifierOutput,
)
from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS, PreTrainedModel

from .configuration_versebert import VerseBertConfig


def _check_values(tensor: torch.Tensor, training: bool) -> bool:
    """Whether to check the values of ``tensor`` (ids in range): a check reads them on the host.

    Skipped while a graph is captured (``torch.compile``, ``torch.export``, tracing), where a
    data-dependent branch breaks the graph, and in training on an accelerator, where it would cost a
    device-to-host sync every step. Inference and anything on the CPU keep the clear message.
    """
    exporting = getattr(torch.compiler, "is_exporting", lambda: False)()
    if torch.compiler.is_compiling() or exporting or torch.jit.is_tracing():
        return False
    return tensor.device.type == "cpu" or not training


def sinusoidal_positions(num_positions: int, dim: int) -> torch.Tensor:
    """The fixed position table of Vaswani et al. (2017), in float32: sin on even, cos on odd dims.

    Fixed positions cost no parameters and need no training signal for rarely seen lengths.
    """
    position = torch.arange(num_positions, dtype=torch.float32).unsqueeze(1)
    inverse_frequency = torch.exp(torch.arange(0, dim, 2, dtype=torch.float32) * (-math.log(10000.0) / dim))
    table = torch.zeros(num_positions, dim, dtype=torch.float32)
    table[:, 0::2] = torch.sin(position * inverse_frequency)
    table[:, 1::2] = torch.cos(position * inverse_frequency[: dim // 2])
    return table


class VerseBertEmbeddings(nn.Module):
    """Token + segment + fixed sinusoidal position embeddings, then dropout.

    Token embeddings are scaled by sqrt(hidden_size) (and initialised with std 1/sqrt(hidden_size)),
    as in the original Transformer, so tokens and the unit-amplitude sinusoid enter the residual
    stream at the same scale; the tied decoder then starts with logits of unit variance.
    """

    def __init__(self, config: VerseBertConfig):
        super().__init__()
        self.word_embeddings = nn.Embedding(config.vocab_size, config.hidden_size, padding_idx=config.pad_token_id)
        self.token_type_embeddings = (
            nn.Embedding(config.type_vocab_size, config.hidden_size) if config.type_vocab_size > 0 else None
        )
        self.embedding_scale = math.sqrt(config.hidden_size)
        self.max_positions = config.max_position_embeddings
        # Not persistent: the table is a function of the config, refilled by `_init_weights` on load.
        self.register_buffer(
            "position_table",
            sinusoidal_positions(config.max_position_embeddings, config.hidden_size),
            persistent=False,
        )
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(
        self,
        input_ids: torch.Tensor | None,
        token_type_ids: torch.Tensor | None,
        inputs_embeds: torch.Tensor | None,
    ) -> torch.Tensor:
        if inputs_embeds is None:
            inputs_embeds = self.word_embeddings(input_ids)
        embeddings = inputs_embeds * self.embedding_scale
        if self.token_type_embeddings is not None and token_type_ids is not None:
            embeddings = embeddings + self.token_type_embeddings(token_type_ids)
        seq_length = embeddings.shape[1]
        embeddings = embeddings + self.position_table[:seq_length].to(embeddings.dtype)
        return self.dropout(embeddings)


def eager_attention_forward(
    module: nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    scaling: float,
    dropout: float = 0.0,
    **kwargs,
) -> tuple[torch.Tensor, torch.Tensor]:
    """softmax(QKᵀ·scaling + mask)·V, the reference the fused kernels must agree with."""
    weights = torch.matmul(query, key.transpose(2, 3)) * scaling
    if attention_mask is not None:
        weights = weights + attention_mask
    weights = F.softmax(weights, dim=-1, dtype=torch.float32).to(query.dtype)
    weights = F.dropout(weights, p=dropout, training=module.training)
    output = torch.matmul(weights, value).transpose(1, 2).contiguous()
    return output, weights


class VerseBertSelfAttention(nn.Module):
    """Bidirectional multi-head attention, dispatched to eager, SDPA or flash kernels by the config.

    ``is_causal = False`` matters: transformers' SDPA path defaults to causal attention for modules
    without it, and the mask helper returns no mask for unpadded batches.
    """

    def __init__(self, config: VerseBertConfig):
        super().__init__()
        self.config = config
        self.num_heads = config.num_attention_heads
        self.head_dim = config.hidden_size // config.num_attention_heads
        self.scaling = self.head_dim**-0.5
        self.is_causal = False
        self.qkv = nn.Linear(config.hidden_size, 3 * config.hidden_size)
        self.output = nn.Linear(config.hidden_size, config.hidden_size)
        self.attention_dropout = config.attention_probs_dropout_prob

    def forward(
        self, hidden_states: torch.Tensor, attention_mask: torch.Tensor | None, **kwargs
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        batch, length, _ = hidden_states.shape
        qkv = self.qkv(hidden_states).view(batch, length, 3, self.num_heads, self.head_dim)
        query, key, value = qkv.permute(2, 0, 3, 1, 4).unbind(0)
        attention_interface: Callable = ALL_ATTENTION_FUNCTIONS.get_interface(
            self.config._attn_implementation, eager_attention_forward
        )
        output, weights = attention_interface(
            self,
            query,
            key,
            value,
            attention_mask,
            dropout=self.attention_dropout if self.training else 0.0,
            scaling=self.scaling,
            is_causal=False,
            **kwargs,
        )
        return self.output(output.reshape(batch, length, -1)), weights


class VerseBertFeedForward(nn.Module):
    def __init__(self, config: VerseBertConfig):
        super().__init__()
        self.up = nn.Linear(config.hidden_size, config.intermediate_size)
        self.activation = ACT2FN[config.hidden_act]
        self.down = nn.Linear(config.intermediate_size, config.hidden_size)

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        return self.down(self.activation(self.up(hidden_states)))


class VerseBertLayer(GradientCheckpointingLayer):
    """A pre-LN block: normalization sits on the branches, so the residual path stays an identity
    and gradients reach early layers unchanged (no warmup-sensitive post-LN instability)."""

    def __init__(self, config: VerseBertConfig):
        super().__init__()
        self.attention_norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.attention = VerseBertSelfAttention(config)
        self.feed_forward_norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.feed_forward = VerseBertFeedForward(config)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(
        self, hidden_states: torch.Tensor, attention_mask: torch.Tensor | None = None, **kwargs
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        attended, weights = self.attention(self.attention_norm(hidden_states), attention_mask, **kwargs)
        hidden_states = hidden_states + self.dropout(attended)
        hidden_states = hidden_states + self.dropout(self.feed_forward(self.feed_forward_norm(hidden_states)))
        return hidden_states, weights


class VerseBertPreTrainedModel(PreTrainedModel):
    config_class = VerseBertConfig
    config: VerseBertConfig
    base_model_prefix = "versebert"
    supports_gradient_checkpointing = True
    _no_split_modules = ["VerseBertLayer"]
    _supports_sdpa = True
    _supports_flash_attn = True
    _supports_flex_attn = True
    _supports_attention_backend = True

    @torch.no_grad()
    def _init_weights(self, module: nn.Module):
        super()._init_weights(module)
        if isinstance(module, VerseBertEmbeddings):
            init.normal_(module.word_embeddings.weight, mean=0.0, std=self.config.hidden_size**-0.5)
            if module.word_embeddings.padding_idx is not None:
                init.zeros_(module.word_embeddings.weight[module.word_embeddings.padding_idx])
            # The table is a non-persistent buffer: `from_pretrained` materialises it from the meta
            # device uninitialised, so it must be recomputed here or it reloads as garbage.
            init.copy_(
                module.position_table,
                sinusoidal_positions(self.config.max_position_embeddings, self.config.hidden_size),
            )

    def _encode(
        self, input_ids, attention_mask, token_type_ids, inputs_embeds, output_attentions, output_hidden_states
    ):
        """Run the shared encoder of a task head (heads keep it at ``self.versebert``)."""
        return self.versebert(
            input_ids,
            attention_mask=attention_mask,
            token_type_ids=token_type_ids,
            inputs_embeds=inputs_embeds,
            output_attentions=output_attentions,
            output_hidden_states=output_hidden_states,
            return_dict=True,
        )


class VerseBertModel(VerseBertPreTrainedModel):
    """The bare encoder: embeddings, pre-LN blocks and a final LayerNorm. Returns token states."""

    _auto_class = "AutoModel"
    # An MLM checkpoint loaded as the bare encoder carries head weights we deliberately drop.
    _keys_to_ignore_on_load_unexpected = [r"^lm_head\.", r"^next_sentence\.", r"^classifier\."]

    def __init__(self, config: VerseBertConfig):
        super().__init__(config)
        self.embeddings = VerseBertEmbeddings(config)
        self.layers = nn.ModuleList(VerseBertLayer(config) for _ in range(config.num_hidden_layers))
        self.final_norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.gradient_checkpointing = False
        self.post_init()

    def get_input_embeddings(self) -> nn.Embedding:
        return self.embeddings.word_embeddings

    def set_input_embeddings(self, value: nn.Embedding):
        self.embeddings.word_embeddings = value

    def _check_inputs(
        self,
        input_ids: torch.Tensor | None,
        attention_mask: torch.Tensor | None,
        token_type_ids: torch.Tensor | None,
        inputs_embeds: torch.Tensor | None,
        output_attentions: bool,
    ) -> None:
        """Turn user mistakes into messages here instead of index errors deep inside torch."""
        if (input_ids is None) == (inputs_embeds is None):
            raise ValueError("Pass exactly one of input_ids or inputs_embeds.")
        if input_ids is not None:
            if input_ids.dim() != 2:
                raise ValueError(f"input_ids must have shape (batch, length), got {tuple(input_ids.shape)}.")
            if input_ids.numel() and _check_values(input_ids, self.training) and (
                input_ids.min() < 0 or input_ids.max() >= self.config.vocab_size
            ):
                raise ValueError(
                    f"input_ids hold ids outside [0, vocab_size={self.config.vocab_size}): "
                    f"min {int(input_ids.min())}, max {int(input_ids.max())}. "
                    "Was the input made with another tokenizer?"
                )
        shape = (input_ids if input_ids is not None else inputs_embeds).shape[:2]
        if shape[1] > self.config.max_position_embeddings:
            raise ValueError(
                f"Input length {shape[1]} exceeds max_position_embeddings="
                f"{self.config.max_position_embeddings}; truncate the input (tokenizer truncation=True, "
                f"max_length={self.config.max_position_embeddings})."
            )
        for name, tensor in (("attention_mask", attention_mask), ("token_type_ids", token_type_ids)):
            if tensor is not None and tensor.dim() == 2 and tuple(tensor.shape) != tuple(shape):
                raise ValueError(f"{name} has shape {tuple(tensor.shape)} but the input has {tuple(shape)}.")
        if token_type_ids is not None and self.config.type_vocab_size > 0:
            if (
                token_type_ids.numel()
                and _check_values(token_type_ids, self.training)
                and token_type_ids.max() >= self.config.type_vocab_size
            ):
                raise ValueError(
                    f"token_type_ids must be < type_vocab_size={self.config.type_vocab_size}, "
                    f"got {int(token_type_ids.max())}."
                )
        if output_attentions and self.config._attn_implementation != "eager":
            raise ValueError(
                "output_attentions=True needs attn_implementation='eager' "
                f"(this model uses {self.config._attn_implementation!r}, which does not return weights)."
            )

    def forward(
        self,
        input_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        inputs_embeds: torch.Tensor | None = None,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
        **kwargs,
    ) -> BaseModelOutput | tuple:
        """Encode a batch. ``attention_mask`` is 1 for real tokens and 0 for padding; padding is
        excluded as a key, so real tokens never see it. Unused tokenizer extras are accepted."""
        output_attentions = bool(output_attentions if output_attentions is not None else self.config.output_attentions)
        output_hidden_states = bool(
            output_hidden_states if output_hidden_states is not None else self.config.output_hidden_states
        )
        return_dict = return_dict if return_dict is not None else self.config.return_dict
        self._check_inputs(input_ids, attention_mask, token_type_ids, inputs_embeds, output_attentions)

        hidden_states = self.embeddings(input_ids, token_type_ids, inputs_embeds)
        mask = create_bidirectional_mask(config=self.config, inputs_embeds=hidden_states, attention_mask=attention_mask)
        all_hidden_states: tuple[torch.Tensor, ...] = ()
        all_attentions: tuple[torch.Tensor, ...] = ()
        for layer in self.layers:
            if output_hidden_states:
                all_hidden_states += (hidden_states,)
            hidden_states, weights = layer(hidden_states, mask)
            if output_attentions:
                all_attentions += (weights,)
        hidden_states = self.final_norm(hidden_states)
        if output_hidden_states:
            all_hidden_states += (hidden_states,)

        output = BaseModelOutput(
            last_hidden_state=hidden_states,
            hidden_states=all_hidden_states if output_hidden_states else None,
            attentions=all_attentions if output_attentions else None,
        )
        return output if return_dict else output.to_tuple()


class VerseBertMLMHead(nn.Module):
    """Transform (dense → activation → LayerNorm) then a decoder whose weight is the input embedding
    matrix. The bias lives inside the decoder Linear so `resize_token_embeddings` resizes it."""

    def __init__(self, config: VerseBertConfig):
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)
        self.activation = ACT2FN[config.hidden_act]
        self.norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.decoder = nn.Linear(config.hidden_size, config.vocab_size, bias=True)

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.norm(self.activation(self.dense(hidden_states))))


def masked_lm_logits_and_loss(
    head: VerseBertMLMHead,
    hidden_states: torch.Tensor,
    labels: torch.Tensor | None,
    project_masked_only: bool,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Vocabulary logits and the unshifted MLM loss over positions whose label is not -100.

    With ``project_masked_only`` only labelled positions go through the head: at small hidden sizes
    the vocabulary projection is most of the compute, and ~85% of positions carry no label. The
    logits then have shape (num_labelled, vocab) instead of (batch, length, vocab).
    """
    if labels is None:
        if project_masked_only:
            raise ValueError("project_masked_only=True needs labels to know which positions are masked.")
        return head(hidden_states), None
    if labels.shape != hidden_states.shape[:2]:
        raise ValueError(f"labels have shape {tuple(labels.shape)} but the input has {tuple(hidden_states.shape[:2])}.")
    if project_masked_only:
        selected = labels != -100
        logits = head(hidden_states[selected])
        loss = F.cross_entropy(logits.float(), labels[selected])
    else:
        logits = head(hidden_states)
        loss = F.cross_entropy(logits.float().flatten(0, 1), labels.flatten(), ignore_index=-100)
    return logits, loss


class VerseBertForMaskedLM(VerseBertPreTrainedModel):
    """Masked language modeling: the encoder plus a head tied to the input embeddings."""

    _auto_class = "AutoModelForMaskedLM"
    _tied_weights_keys = {"lm_head.decoder.weight": "versebert.embeddings.word_embeddings.weight"}

    def __init__(self, config: VerseBertConfig):
        super().__init__(config)
        self.versebert = VerseBertModel(config)
        self.lm_head = VerseBertMLMHead(config)
        self.post_init()

    def get_output_embeddings(self) -> nn.Linear:
        return self.lm_head.decoder

    def set_output_embeddings(self, new_embeddings: nn.Linear):
        self.lm_head.decoder = new_embeddings

    def forward(
        self,
        input_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        inputs_embeds: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        project_masked_only: bool = False,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
        **kwargs,
    ) -> MaskedLMOutput | tuple:
        """``labels`` hold the original id at masked positions and -100 elsewhere (no shift)."""
        return_dict = return_dict if return_dict is not None else self.config.return_dict
        encoded = self._encode(
            input_ids, attention_mask, token_type_ids, inputs_embeds, output_attentions, output_hidden_states
        )
        logits, loss = masked_lm_logits_and_loss(self.lm_head, encoded.last_hidden_state, labels, project_masked_only)
        output = MaskedLMOutput(
            loss=loss, logits=logits, hidden_states=encoded.hidden_states, attentions=encoded.attentions
        )
        return output if return_dict else output.to_tuple()


@dataclass
class VerseBertForPreTrainingOutput(ModelOutput):
    loss: torch.Tensor | None = None
    prediction_logits: torch.Tensor | None = None
    seq_relationship_logits: torch.Tensor | None = None
    hidden_states: tuple[torch.Tensor, ...] | None = None
    attentions: tuple[torch.Tensor, ...] | None = None


class VerseBertForPreTraining(VerseBertPreTrainedModel):
    """MLM plus, when ``config.use_next_sentence_head``, BERT's next-sentence head on ``[CLS]``.

    Off by default: RoBERTa showed next-sentence prediction does not help, and verses are single
    sentences more often than not.
    """

    _auto_class = "AutoModelForPreTraining"
    _tied_weights_keys = {"lm_head.decoder.weight": "versebert.embeddings.word_embeddings.weight"}

    def __init__(self, config: VerseBertConfig):
        super().__init__(config)
        self.versebert = VerseBertModel(config)
        self.lm_head = VerseBertMLMHead(config)
        self.next_sentence = nn.Linear(config.hidden_size, 2) if config.use_next_sentence_head else None
        self.post_init()

    def get_output_embeddings(self) -> nn.Linear:
        return self.lm_head.decoder

    def set_output_embeddings(self, new_embeddings: nn.Linear):
        self.lm_head.decoder = new_embeddings

    def forward(
        self,
        input_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        inputs_embeds: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        next_sentence_label: torch.Tensor | None = None,
        project_masked_only: bool = False,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
        **kwargs,
    ) -> VerseBertForPreTrainingOutput | tuple:
        return_dict = return_dict if return_dict is not None else self.config.return_dict
        if next_sentence_label is not None and self.next_sentence is None:
            raise ValueError("next_sentence_label given but config.use_next_sentence_head is False.")
        encoded = self._encode(
            input_ids, attention_mask, token_type_ids, inputs_embeds, output_attentions, output_hidden_states
        )
        hidden_states = encoded.last_hidden_state
        prediction_logits, loss = masked_lm_logits_and_loss(self.lm_head, hidden_states, labels, project_masked_only)
        seq_relationship_logits = None
        if self.next_sentence is not None:
            seq_relationship_logits = self.next_sentence(hidden_states[:, 0])
            if next_sentence_label is not None:
                next_loss = F.cross_entropy(seq_relationship_logits.float(), next_sentence_label.view(-1))
                loss = next_loss if loss is None else loss + next_loss
        output = VerseBertForPreTrainingOutput(
            loss=loss,
            prediction_logits=prediction_logits,
            seq_relationship_logits=seq_relationship_logits,
            hidden_states=encoded.hidden_states,
            attentions=encoded.attentions,
        )
        return output if return_dict else output.to_tuple()


def classification_loss(config: VerseBertConfig, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """BERT's rule: regression for one label, single-label CE for integer labels, else multi-label BCE."""
    if config.problem_type is None:
        if config.num_labels == 1:
            config.problem_type = "regression"
        elif labels.dtype in (torch.long, torch.int):
            config.problem_type = "single_label_classification"
        else:
            config.problem_type = "multi_label_classification"
    if config.problem_type == "regression":
        return F.mse_loss(logits.squeeze(-1).float(), labels.float().view(-1))
    if config.problem_type == "single_label_classification":
        return F.cross_entropy(logits.float().view(-1, config.num_labels), labels.view(-1))
    return F.binary_cross_entropy_with_logits(logits.float(), labels.float())


class VerseBertClassifier(VerseBertPreTrainedModel):
    """What the sequence and token classifiers share: the encoder, dropout and one linear layer.
    Subclasses say which states are classified and how the loss is computed."""

    output_class: type[ModelOutput]

    def __init__(self, config: VerseBertConfig):
        super().__init__(config)
        self.versebert = VerseBertModel(config)
        dropout = config.classifier_dropout if config.classifier_dropout is not None else config.hidden_dropout_prob
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(config.hidden_size, config.num_labels)
        self.post_init()

    def classified_states(self, hidden_states: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def loss(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(
        self,
        input_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        inputs_embeds: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
        **kwargs,
    ) -> ModelOutput | tuple:
        return_dict = return_dict if return_dict is not None else self.config.return_dict
        encoded = self._encode(
            input_ids, attention_mask, token_type_ids, inputs_embeds, output_attentions, output_hidden_states
        )
        logits = self.classifier(self.dropout(self.classified_states(encoded.last_hidden_state)))
        loss = self.loss(logits, labels) if labels is not None else None
        output = self.output_class(
            loss=loss, logits=logits, hidden_states=encoded.hidden_states, attentions=encoded.attentions
        )
        return output if return_dict else output.to_tuple()


class VerseBertForSequenceClassification(VerseBertClassifier):
    """A linear classifier on the final ``[CLS]`` state."""

    _auto_class = "AutoModelForSequenceClassification"
    output_class = SequenceClassifierOutput

    def classified_states(self, hidden_states: torch.Tensor) -> torch.Tensor:
        return hidden_states[:, 0]

    def loss(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return classification_loss(self.config, logits, labels)


class VerseBertForTokenClassification(VerseBertClassifier):
    """A linear classifier on every token state (labels of -100 are ignored)."""

    _auto_class = "AutoModelForTokenClassification"
    output_class = TokenClassifierOutput

    def classified_states(self, hidden_states: torch.Tensor) -> torch.Tensor:
        return hidden_states

    def loss(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(logits.float().flatten(0, 1), labels.flatten(), ignore_index=-100)


__all__ = [
    "VerseBertForMaskedLM",
    "VerseBertForPreTraining",
    "VerseBertForSequenceClassification",
    "VerseBertForTokenClassification",
    "VerseBertModel",
    "VerseBertPreTrainedModel",
    "sinusoidal_positions",
]
