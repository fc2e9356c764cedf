"""VerseBERT configuration.

This file travels with every saved checkpoint as remote code, so it imports nothing but
``transformers`` (no torch, no other module of this package).
"""

from huggingface_hub.dataclasses import strict
from transformers import PreTrainedConfig

# Where each Auto class finds our code inside a saved checkpoint. Every checkpoint carries the whole
# map, whatever head was saved, so a machine without this package can load an MLM checkpoint with
# AutoModel (and so SentenceTransformer) through ``trust_remote_code=True``.
AUTO_MAP = {
    "AutoConfig": "configuration_versebert.VerseBertConfig",
    "AutoModel": "modeling_versebert.VerseBertModel",
    "AutoModelForMaskedLM": "modeling_versebert.VerseBertForMaskedLM",
    "AutoModelForPreTraining": "modeling_versebert.VerseBertForPreTraining",
    "AutoModelForSequenceClassification": "modeling_versebert.VerseBertForSequenceClassification",
    "AutoModelForTokenClassification": "modeling_versebert.VerseBertForTokenClassification",
}


@strict
class VerseBertConfig(PreTrainedConfig):
    r"""
    A BERT-shaped encoder with pre-LayerNorm blocks and fixed sinusoidal positions.

    The defaults are BERT-base sized. Model-specific fields:

    - ``max_position_embeddings``: length of the fixed sinusoid table; longer inputs are rejected.
    - ``type_vocab_size``: number of segment embeddings (0 disables them).
    - ``use_next_sentence_head``: give ``VerseBertForPreTraining`` a next-sentence head on ``[CLS]``.

    Example:

    ```python
    >>> from modeling_versebert import VerseBertConfig, VerseBertForMaskedLM
    >>> model = VerseBertForMaskedLM(VerseBertConfig(hidden_size=256, num_hidden_layers=4,
    ...                                               num_attention_heads=4, intermediate_size=1024))
    ```
    """

    model_type = "versebert"
    _auto_class = "AutoConfig"

    vocab_size: int = 30522
    hidden_size: int = 768
    num_hidden_layers: int = 12
    num_attention_heads: int = 12
    intermediate_size: int = 3072
    hidden_act: str = "gelu"
    hidden_dropout_prob: float | int = 0.1
    attention_probs_dropout_prob: float | int = 0.1
    max_position_embeddings: int = 512
    type_vocab_size: int = 2
    layer_norm_eps: float = 1e-12
    initializer_range: float = 0.02
    pad_token_id: int | None = 0
    tie_word_embeddings: bool = True
    classifier_dropout: float | int | None = None
    use_next_sentence_head: bool = False

    def __post_init__(self, **kwargs):
        self._check_values()
        super().__post_init__(**kwargs)
        if getattr(self, "auto_map", None) is None:
            self.auto_map = dict(AUTO_MAP)

    @classmethod
    def get_config_dict(cls, pretrained_model_name_or_path, **kwargs):
        """Refuse another model type's checkpoint instead of loading it into random weights.

        transformers only logs a warning here, and the model then starts from scratch silently.
        """
        config_dict, kwargs = super().get_config_dict(pretrained_model_name_or_path, **kwargs)
        model_type = config_dict.get("model_type")
        if model_type is not None and model_type != cls.model_type:
            raise ValueError(
                f"{pretrained_model_name_or_path} holds a {model_type!r} checkpoint, not {cls.model_type!r}. "
                "Load it with its own class (AutoModel), or warm-start VerseBERT from it with "
                "`versebert train --init-from`."
            )
        return config_dict, kwargs

    def _check_values(self):
        """Reject shapes and rates that would otherwise fail deep inside torch, naming the field.

        Runs before ``@strict``'s own validators so the user gets a plain ``ValueError``.
        """
        for name in (
            "vocab_size",
            "hidden_size",
            "num_hidden_layers",
            "num_attention_heads",
            "intermediate_size",
            "max_position_embeddings",
        ):
            value = getattr(self, name)
            if value <= 0:
                raise ValueError(f"VerseBertConfig.{name} must be a positive integer, got {value}.")
        if self.type_vocab_size < 0:
            raise ValueError(f"VerseBertConfig.type_vocab_size must be >= 0, got {self.type_vocab_size}.")
        if self.hidden_size % self.num_attention_heads != 0:
            raise ValueError(
                f"VerseBertConfig.hidden_size ({self.hidden_size}) must be divisible by "
                f"num_attention_heads ({self.num_attention_heads})."
            )
        for name in ("hidden_dropout_prob", "attention_probs_dropout_prob", "classifier_dropout"):
            value = getattr(self, name)
            if value is not None and not 0 <= value < 1:
                raise ValueError(f"VerseBertConfig.{name} must be in [0, 1), got {value}.")
        if self.layer_norm_eps <= 0:
            raise ValueError(f"VerseBertConfig.layer_norm_eps must be positive, got {self.layer_norm_eps}.")
        if self.initializer_range <= 0:
            raise ValueError(f"VerseBertConfig.initializer_range must be positive, got {self.initializer_range}.")
        if self.pad_token_id is not None and not 0 <= self.pad_token_id < self.vocab_size:
            raise ValueError(
                f"VerseBertConfig.pad_token_id must be in [0, vocab_size={self.vocab_size}), got {self.pad_token_id}."
            )


__all__ = ["AUTO_MAP", "VerseBertConfig"]
