"""Which precision a training stage runs in, decided once for the MLM trainer and both contrastive stages.

``auto`` means: what the launcher asked for, else what the hardware computes natively. bf16 pays off
only where matmuls run natively in it (CUDA with bf16, CPUs with AVX512-BF16 or AMX: ~2.5x fp32);
on a plain AVX2 CPU bf16 is emulated and 10-20x slower than fp32, so ``auto`` picks fp32 there.
An explicit value (``bf16``, ``fp16``, ``no``) in the preset or on the command line is used as is.
"""

from __future__ import annotations

import os

import torch

from ..errors import UserError
from .config import MIXED_PRECISIONS

# Set by ``accelerate launch`` from its ``--mixed_precision`` flag or its config file.
LAUNCHER_VARIABLE = "ACCELERATE_MIXED_PRECISION"


def cpu_has_native_bf16() -> bool:
    """True on CPUs whose oneDNN kernels compute bf16 natively (AVX512-BF16 or AMX)."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def cpu_kind() -> str:
    """What this CPU does with bf16, the fact that decides ``mixed_precision: auto`` (benchmarks name it)."""
    return "native bf16 (AVX512-BF16 or AMX)" if cpu_has_native_bf16() else "no native bf16 (bf16 emulated)"


def uses_cuda() -> bool:
    """Training runs on CUDA when a device is visible; otherwise on the CPU."""
    return torch.cuda.is_available()


def hardware_precision() -> str:
    """bf16 where this machine computes it natively, fp32 (``no``) elsewhere."""
    if uses_cuda():
        return "bf16" if torch.cuda.is_bf16_supported() else "no"
    return "bf16" if cpu_has_native_bf16() else "no"


def resolve_mixed_precision(setting: str) -> str:
    """accelerate's ``mixed_precision`` for a config value: ``bf16``, ``fp16`` or ``no``.

    ``auto`` defers to the launcher (``accelerate launch --mixed_precision no`` wins over a preset's
    ``auto``), then to :func:`hardware_precision`. fp16 needs CUDA: on a CPU it is refused here with a
    message, rather than deep inside transformers' argument checks.
    """
    if setting == "auto":
        launcher = os.environ.get(LAUNCHER_VARIABLE, "").strip().lower()
        if launcher and launcher not in MIXED_PRECISIONS[1:]:
            raise UserError(
                f"the launcher asked for mixed precision {launcher!r} ({LAUNCHER_VARIABLE}); "
                f"VerseBERT trains in one of {MIXED_PRECISIONS[1:]}"
            )
        setting = launcher or hardware_precision()
    if setting == "fp16" and not uses_cuda():
        raise UserError("mixed_precision fp16 needs a CUDA GPU; on a CPU use bf16, no, or auto")
    return setting


__all__ = [
    "LAUNCHER_VARIABLE",
    "MIXED_PRECISIONS",
    "cpu_has_native_bf16",
    "cpu_kind",
    "hardware_precision",
    "resolve_mixed_precision",
    "uses_cuda",
]
