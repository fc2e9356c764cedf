"""Training: typed presets, BERT masking, length-grouped batching, the MLM trainer, warm start and
run logging (``mlm``, ``masking``, ``batching``, ``config``, ``warm_start``, ``run_logging``), and the
contrastive stages. Import the submodule you need; heavy dependencies load there, not here."""

from .config import MlmConfig, Preset, load_preset

__all__ = ["MlmConfig", "Preset", "load_preset"]
