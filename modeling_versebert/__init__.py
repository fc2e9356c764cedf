"""VerseBERT: a pre-LN, sinusoidal-position BERT encoder for scripture search.

This package is what a checkpoint carries: the config, the model and its heads. Importing it
registers the config and every head named in :data:`AUTO_MAP` with the matching ``Auto*`` class, so
``AutoModel.from_pretrained(dir)`` works locally without ``trust_remote_code``. Saved checkpoints
also carry the model code and the full ``auto_map`` for machines without this package. Adding a
head: write its class in ``modeling_versebert.py`` (and its ``__all__``) and name it in ``AUTO_MAP``.
"""

import transformers

from . import modeling_versebert as _modeling
from .configuration_versebert import AUTO_MAP, VerseBertConfig
from .modeling_versebert import *  # noqa: F403 (the heads and helpers of its __all__)

transformers.AutoConfig.register(VerseBertConfig.model_type, VerseBertConfig, exist_ok=True)
for _auto_class, _target in AUTO_MAP.items():
    if _auto_class != "AutoConfig":
        _model_class = getattr(_modeling, _target.rpartition(".")[2])
        getattr(transformers, _auto_class).register(VerseBertConfig, _model_class, exist_ok=True)

__all__ = ["AUTO_MAP", "VerseBertConfig", *_modeling.__all__]
