"""VerseBERT: a pre-LN, sinusoidal-position BERT encoder for scripture search.

Importing the package registers the config and every head with the matching ``Auto*`` classes, so
``AutoModel.from_pretrained(dir)`` works locally without ``trust_remote_code``. Saved checkpoints
also carry the model code and a full ``auto_map`` for machines without this package.
"""

from transformers import (
    AutoConfig,
    AutoModel,
    AutoModelForMaskedLM,
    AutoModelForPreTraining,
    AutoModelForSequenceClassification,
    AutoModelForTokenClassification,
)

from .configuration_versebert import VerseBertConfig
from .modeling_versebert import (
    VerseBertForMaskedLM,
    VerseBertForPreTraining,
    VerseBertForSequenceClassification,
    VerseBertForTokenClassification,
    VerseBertModel,
    VerseBertPreTrainedModel,
    sinusoidal_positions,
)

AutoConfig.register(VerseBertConfig.model_type, VerseBertConfig, exist_ok=True)
for _auto_class, _model_class in (
    (AutoModel, VerseBertModel),
    (AutoModelForMaskedLM, VerseBertForMaskedLM),
    (AutoModelForPreTraining, VerseBertForPreTraining),
    (AutoModelForSequenceClassification, VerseBertForSequenceClassification),
    (AutoModelForTokenClassification, VerseBertForTokenClassification),
):
    _auto_class.register(VerseBertConfig, _model_class, exist_ok=True)

__all__ = [
    "VerseBertConfig",
    "VerseBertForMaskedLM",
    "VerseBertForPreTraining",
    "VerseBertForSequenceClassification",
    "VerseBertForTokenClassification",
    "VerseBertModel",
    "VerseBertPreTrainedModel",
    "sinusoidal_positions",
]
