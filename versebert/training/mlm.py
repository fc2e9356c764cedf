"""Masked-language-model pre-training of VerseBERT with accelerate.

``train_mlm`` reads like a training script, in steps:

1. model: a VerseBertForMaskedLM sized by the preset, vocabulary and special ids from the tokenizer
   (optionally warm-started from a BERT checkpoint);
2. data: length-grouped batches of unpadded verses, padded per batch (:mod:`.batching`);
3. optimiser: AdamW with decay on weight matrices only, linear warmup then linear decay to zero;
4. loop: masks drawn per batch from a checkpointed generator (:mod:`.masking`), gradient
   accumulation, clipping, logging, evaluation and atomic checkpoints;
5. save: the final model with its tokenizer and remote code, and a PNG of the curves.

Resuming (``resume=True``) continues from the newest intact checkpoint with the data order, the
masks, the dropout and the schedule of the uninterrupted run. Each checkpoint records the run's
whole effective configuration and digests of its data and files (:data:`STATE_FILE`, written last):
a resume with other settings is refused unless the change is in :data:`SAFE_TO_CHANGE_ON_RESUME`,
and a checkpoint whose files no longer match their digests is set aside (``damaged-step-<N>``) for
the newest intact one.

The same script runs on one CPU, ``accelerate launch --num_processes 2`` on CPU
(``ACCELERATE_USE_CPU=true``) and on GPUs.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import logging
import math
import os
import shutil
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import torch
from torch.utils.data import DataLoader

from ..atomic import filesystem_errors, write_json_atomically
from ..errors import UserError
from .batching import LengthGroupedBatchSampler, PaddingCollator, TokenSequences
from .config import MlmConfig, Preset
from .masking import CheckpointableGenerator, mask_tokens
from .memory import release_freed_memory
from .precision import resolve_mixed_precision
from .resume import RESTART_HINT, check_resume_settings, describe_changes, digest, discard_run, plain
from .run_logging import RunLogger

logger = logging.getLogger(__name__)

CHECKPOINT_PREFIX = "step-"
STATE_FILE = "trainer_state.json"
DAMAGED_PREFIX = "damaged-"
SAFE_TO_CHANGE_ON_RESUME = frozenset(
    f"mlm.{name}" for name in ("log_every", "eval_every", "save_every", "keep_last", "plot_curves")
)
"""Settings that only say how often the run logs, evaluates and saves: changing them cannot change a weight."""
EVAL_SEED_OFFSET = 1_000_003  # evaluation masks: a fixed stream apart from the training one


class NonFiniteLossError(UserError):
    """The loss or the gradient norm became NaN or infinite; training stopped before the update."""


# ---------------------------------------------------------------------------------------------
# Pure pieces: weight-decay groups, schedule


def parameter_groups(model: torch.nn.Module, weight_decay: float) -> list[dict]:
    """AdamW groups by nanoGPT's rule: decay parameters with ``dim() >= 2``, not the rest.

    So weight matrices and the (tied) token embedding decay, while biases and LayerNorm gains do not.
    The embedding decays as in BERT: AdamW's decoupled decay shrinks rows of tokens a batch does not
    contain only by ``lr * weight_decay`` per step, a mild prior towards small logits of the tied
    head. The sinusoidal position table is a buffer, not a parameter, so it is never touched.
    """
    decay, no_decay = [], []
    for _, parameter in model.named_parameters():  # named_parameters() lists a tied tensor once
        if parameter.requires_grad:
            (decay if parameter.dim() >= 2 else no_decay).append(parameter)
    return [
        {"params": decay, "weight_decay": weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]


def lr_multiplier(step: int, *, warmup_steps: int, total_steps: int) -> float:
    """Learning-rate factor for optimizer step ``step`` (0-based): linear warmup to 1 over
    ``warmup_steps`` steps, then linear decay reaching 0 at ``total_steps``.

    The first step already has a non-zero rate (``1 / warmup_steps``), and the last one
    ``1 / (total_steps - warmup_steps)``; ``step == total_steps`` gives 0.
    """
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    return max(0.0, (total_steps - step) / max(1, total_steps - warmup_steps))


def continuation_ids(tokenizer) -> torch.Tensor:
    """Ids of the WordPiece pieces that continue a word (``##...``), for whole-word masking."""
    prefix = getattr(getattr(tokenizer, "backend_tokenizer", None), "decoder", None)
    prefix = getattr(prefix, "prefix", "##") or "##"
    ids = [index for token, index in tokenizer.get_vocab().items() if token.startswith(prefix)]
    if not ids:
        raise UserError(f"whole_word_masking needs a WordPiece vocabulary with {prefix!r} continuations; "
                        "this tokenizer has none")
    return torch.tensor(sorted(ids), dtype=torch.long)


def config_for_tokenizer(model_config, tokenizer):
    """A copy of ``model_config`` with the tokenizer's vocabulary size and special ids.

    The special ids travel in config.json so that anyone loading the checkpoint (and our own
    evaluation) knows which id is [MASK] without guessing from the vocabulary.
    """
    values = model_config.to_dict()
    for key in ("model_type", "transformers_version", "architectures"):
        values.pop(key, None)
    values["vocab_size"] = len(tokenizer)
    for name in ("pad", "unk", "cls", "sep", "mask"):
        token_id = getattr(tokenizer, f"{name}_token_id", None)
        if token_id is None:
            raise UserError(f"the tokenizer has no {name} token; MLM needs [PAD], [UNK], [CLS], [SEP] and [MASK]")
        values[f"{name}_token_id"] = token_id
    return type(model_config)(**values)


def make_accelerator(config: MlmConfig):
    """The run's Accelerator. Create it before anything else touches accelerate's process state.

    On a CPU-only machine a bare ``PartialState()`` created first ignores ``ACCELERATE_USE_CPU`` and
    freezes the state as single-process; only the Accelerator reads that variable. And without it,
    ranks started by ``accelerate launch`` never join one group: each trains alone and they overwrite
    each other's checkpoints, which is refused here.
    """
    from accelerate import Accelerator

    accelerator = Accelerator(
        mixed_precision=resolve_mixed_precision(config.mixed_precision),
        gradient_accumulation_steps=config.gradient_accumulation_steps,
        # A prepared scheduler would step once per process per optimizer step; ours steps itself, once.
        step_scheduler_with_optimizer=False,
    )
    launched = int(os.environ.get("WORLD_SIZE", "1"))
    if accelerator.num_processes != launched:
        raise UserError(
            f"{launched} processes were launched but they did not join one group; on CPUs run "
            "`ACCELERATE_USE_CPU=true accelerate launch --multi_gpu --num_processes N ...`"
        )
    return accelerator


# ---------------------------------------------------------------------------------------------
# Checkpoints


@dataclass
class TrainingProgress:
    """Where the loop is: optimizer steps done, the current epoch and the micro-batches of it done."""

    step: int = 0
    epoch: int = 0
    batches_in_epoch: int = 0
    total_steps: int = 0


def checkpoint_step(path: Path) -> int | None:
    name = path.name
    if path.is_dir() and name.startswith(CHECKPOINT_PREFIX) and name[len(CHECKPOINT_PREFIX) :].isdigit():
        return int(name[len(CHECKPOINT_PREFIX) :])
    return None


def list_checkpoints(checkpoints_dir: str | Path) -> list[Path]:
    """Complete checkpoints, oldest first. Incomplete ones never carry the final name (see save)."""
    checkpoints_dir = Path(checkpoints_dir)
    if not checkpoints_dir.is_dir():
        return []
    found = [path for path in checkpoints_dir.iterdir() if checkpoint_step(path) is not None]
    return sorted((path for path in found if (path / STATE_FILE).is_file()), key=checkpoint_step)


def file_digests(directory: Path) -> dict[str, str]:
    """SHA-256 of every file under ``directory`` but the state file, by relative path."""
    digests = {}
    for path in sorted(item for item in directory.rglob("*") if item.is_file() and item.name != STATE_FILE):
        with path.open("rb") as handle:
            digests[path.relative_to(directory).as_posix()] = hashlib.file_digest(handle, "sha256").hexdigest()
    return digests


def checkpoint_problem(path: Path) -> str | None:
    """Why the checkpoint ``path`` cannot be trusted (a damaged state file, a missing, truncated or
    altered file), or ``None`` if every file matches the digest recorded when it was saved."""
    try:
        state = json.loads((path / STATE_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        return f"{STATE_FILE} unreadable: {type(error).__name__}"
    recorded = state.get("files") if isinstance(state, dict) else None
    if not isinstance(recorded, dict):
        return None  # saved before digests were recorded: the settings check refuses it with its own message
    found = file_digests(path)
    for name, expected in recorded.items():
        if name not in found:
            return f"{name} is missing"
        if found[name] != expected:
            return f"{name} does not match its recorded SHA-256"
    return None


def set_aside(path: Path) -> Path:
    """Rename a damaged checkpoint out of the checkpoint namespace (kept for inspection, never deleted)."""
    target = path.with_name(f"{DAMAGED_PREFIX}{path.name}")
    number = 1
    while target.exists():
        number += 1
        target = path.with_name(f"{DAMAGED_PREFIX}{path.name}.{number}")
    os.replace(path, target)
    return target


def sequences_digest(sequences: TokenSequences | None) -> str | None:
    """A fingerprint of the training sequences themselves: a rebuilt corpus with other content
    (another tokenizer, translation or cleaning rule) never resumes a run started on the old one."""
    if sequences is None:
        return None
    return digest([sequences.offsets.astype("<i8").tobytes(), sequences.values.astype("<i8").tobytes()])


def _replace_directory(source: Path, target: Path) -> None:
    """Give ``source`` the name ``target``; an existing ``target`` is moved aside first, then removed."""
    if target.exists():
        trash = target.with_name(f".trash-{target.name}")
        shutil.rmtree(trash, ignore_errors=True)
        os.replace(target, trash)
        os.replace(source, target)
        shutil.rmtree(trash, ignore_errors=True)
    else:
        os.replace(source, target)


VOLATILE_MODEL_KEYS = ("transformers_version", "architectures", "auto_map", "_name_or_path", "dtype", "torch_dtype")


def run_settings(config: MlmConfig, model_config, train: TokenSequences, validation, extra) -> dict:
    """What a run's result depends on, as JSON-able data for its checkpoints: the MLM settings, the
    model's shape and special ids, digests of the training and validation sequences, and ``extra``
    (the caller's tokenizer/data settings and warm start)."""
    model = {key: value for key, value in model_config.to_dict().items() if key not in VOLATILE_MODEL_KEYS}
    sequences = {"train": sequences_digest(train), "validation": sequences_digest(validation)}
    return plain({"mlm": dataclasses.asdict(config), "model": model, "sequences": sequences, **(extra or {})})


# ---------------------------------------------------------------------------------------------
# The trainer


class MlmTrainer:
    """The objects of one MLM run and its step: accelerator, model, optimiser, schedule, data, masks.

    ``train_batch`` is one micro-batch of the real training step (the throughput benchmark times
    it); :meth:`fit` is the whole loop with logging, evaluation and checkpoints.
    """

    def __init__(
        self,
        config: MlmConfig,
        *,
        model: torch.nn.Module,
        tokenizer,
        train: TokenSequences,
        validation: TokenSequences | None = None,
        accelerator=None,
        settings: Mapping[str, object] | None = None,
    ):
        self.config = config
        self.tokenizer = tokenizer
        self.accelerator = accelerator = accelerator or make_accelerator(config)
        self.vocab_size = model.config.vocab_size
        self.mask_token_id = tokenizer.mask_token_id
        self.special_ids = sorted(set(tokenizer.all_special_ids))
        self._special_ids_tensor = torch.tensor(self.special_ids, dtype=torch.long)
        self._continuations = continuation_ids(tokenizer) if config.whole_word_masking else None

        longest = int(train.lengths.max())
        if longest > model.config.max_position_embeddings:
            raise UserError(
                f"the corpus holds a sequence of {longest} tokens but the model takes at most "
                f"{model.config.max_position_embeddings}: rebuild the corpus with a smaller max_length"
            )
        self.train_sampler = LengthGroupedBatchSampler(
            train.lengths, config.batch_size, seed=config.seed, group_batches=config.length_group_batches
        )
        collator = PaddingCollator(tokenizer.pad_token_id)
        # The loader gets its own generator: iterating a DataLoader draws a seed from it, and drawing
        # from the global RNG instead would shift dropout masks between a resumed and an uninterrupted run.
        train_loader = DataLoader(
            train, batch_sampler=self.train_sampler, collate_fn=collator, generator=torch.Generator().manual_seed(0)
        )
        self.validation = validation if validation is not None and len(validation) else None
        self._collator = collator
        self.settings = run_settings(config, model.config, train, self.validation, settings)

        optimizer = torch.optim.AdamW(
            parameter_groups(model, config.weight_decay),
            lr=config.learning_rate,
            betas=(config.adam_beta1, config.adam_beta2),
            eps=config.adam_epsilon,
            fused=accelerator.device.type in ("cpu", "cuda"),  # one kernel for all tensors, not one per tensor
        )
        model, optimizer, self.train_loader = accelerator.prepare(model, optimizer, train_loader)
        self.model, self.optimizer = model, optimizer

        steps_per_epoch = math.ceil(len(self.train_loader) / config.gradient_accumulation_steps)
        self.total_steps = config.max_steps or max(1, math.ceil(config.epochs * steps_per_epoch))
        self.warmup_steps = round(config.warmup * self.total_steps)
        schedule = functools.partial(lr_multiplier, warmup_steps=self.warmup_steps, total_steps=self.total_steps)
        self.scheduler = accelerator.prepare(torch.optim.lr_scheduler.LambdaLR(optimizer, schedule))

        self.masking = CheckpointableGenerator(
            config.seed, process_index=accelerator.process_index, gather=self._gather_cpu
        )
        accelerator.register_for_checkpointing(self.masking)
        self.progress = TrainingProgress(total_steps=self.total_steps)
        self.last_checkpoint: Path | None = None
        self._window = torch.zeros(3, dtype=torch.float64)  # loss sum, micro-batches, real tokens
        self._step_loss = torch.zeros((), dtype=torch.float64)

    def _gather_cpu(self, tensor: torch.Tensor) -> torch.Tensor:
        return self.accelerator.gather(tensor.to(self.accelerator.device)).cpu()

    # -- one micro-batch ---------------------------------------------------------------------

    def mask(
        self, batch: Mapping[str, torch.Tensor], generator: torch.Generator | None = None, *, evaluation: bool = False
    ) -> dict:
        """Mask a padded batch on the CPU (the generator lives there) and move it to the device;
        ``evaluation`` masks at the validation rate."""
        input_ids = batch["input_ids"].cpu()
        masked, labels = mask_tokens(
            input_ids,
            torch.isin(input_ids, self._special_ids_tensor),
            mask_token_id=self.mask_token_id,
            vocab_size=self.vocab_size,
            generator=generator or self.masking.generator,
            special_token_ids=self.special_ids,
            probability=self.config.eval_mask_probability if evaluation else self.config.mask_probability,
            mask_token_fraction=self.config.mask_token_fraction,
            random_token_fraction=self.config.random_token_fraction,
            word_starts=None if self._continuations is None else ~torch.isin(input_ids, self._continuations),
        )
        device = self.accelerator.device
        return {
            "input_ids": masked.to(device),
            "attention_mask": batch["attention_mask"].to(device),
            "labels": labels.to(device),
        }

    def train_batch(self, batch: Mapping[str, torch.Tensor]) -> torch.Tensor | None:
        """Forward and backward one micro-batch; at the end of an accumulation window also clip,
        check for non-finite values and step. Returns the pre-clipping gradient norm after an
        optimizer step, else None."""
        accelerator = self.accelerator
        inputs = self.mask(batch)
        with accelerator.accumulate(self.model):
            loss = self.model(**inputs, project_masked_only=self.config.project_masked_only).loss
            accelerator.backward(loss)
            loss = loss.detach().double().cpu()
            self._step_loss += loss
            tokens = batch["attention_mask"].sum().cpu().double()
            self._window += torch.stack([loss, torch.ones((), dtype=torch.float64), tokens])
            if not accelerator.sync_gradients:
                return None
            grad_norm = accelerator.clip_grad_norm_(self.model.parameters(), self.config.max_grad_norm)
            self._stop_if_not_finite(self._step_loss, grad_norm)
            self.optimizer.step()
            self.scheduler.step()
            self.optimizer.zero_grad(set_to_none=True)
        self._step_loss.zero_()
        return grad_norm

    def _stop_if_not_finite(self, loss: torch.Tensor, grad_norm: torch.Tensor) -> None:
        """Raise before the update if any process saw a non-finite loss or gradient norm.

        The flag is summed over processes so that all of them stop together (one process raising
        alone would leave the others waiting in the next all-reduce).
        """
        bad = (~torch.isfinite(loss)).float() + (~torch.isfinite(grad_norm.detach().float().cpu())).float()
        if self.accelerator.reduce(bad.to(self.accelerator.device), "sum").item() == 0:
            return
        where = f"the last good checkpoint is {self.last_checkpoint}" if self.last_checkpoint else "no checkpoint"
        raise NonFiniteLossError(
            f"non-finite training values at step {self.progress.step + 1}: loss {loss.item():.4g}, "
            f"gradient norm {float(grad_norm):.4g}. Stopped before updating the weights; {where}. "
            "Try a lower mlm.learning_rate, a longer mlm.warmup, or mlm.mixed_precision: 'no'."
        )

    # -- evaluation --------------------------------------------------------------------------

    @torch.no_grad()
    def evaluate(self) -> dict[str, float]:
        """Validation loss and masked-token accuracy on fixed masks (the same at every evaluation, at
        ``eval_mask_probability``).

        Each process evaluates its own share of the batches; the sums are reduced over processes.
        """
        if self.validation is None:
            return {}
        accelerator, config = self.accelerator, self.config
        sampler = LengthGroupedBatchSampler(
            self.validation.lengths,
            min(config.eval_batch_size, len(self.validation)),
            seed=config.seed,
            group_batches=config.length_group_batches,
            drop_last=False,
        )
        batches = sampler.batches()[: config.eval_max_batches]
        shard = batches[accelerator.process_index :: accelerator.num_processes]
        generator = torch.Generator().manual_seed(config.seed + EVAL_SEED_OFFSET + accelerator.process_index)
        model = accelerator.unwrap_model(self.model)
        model.eval()
        totals = torch.zeros(3, dtype=torch.float64)  # loss sum, correct, masked tokens
        for indices in shard:
            inputs = self.mask(self._collator(self.validation.__getitems__(indices)), generator, evaluation=True)
            with accelerator.autocast():
                logits = model(**inputs, project_masked_only=True).logits.float()
            targets = inputs["labels"][inputs["labels"] != -100]
            loss_sum = torch.nn.functional.cross_entropy(logits, targets, reduction="sum")
            correct = (logits.argmax(dim=-1) == targets).sum()
            totals += torch.tensor([loss_sum.item(), correct.item(), targets.numel()], dtype=torch.float64)
        model.train()
        totals = accelerator.reduce(totals.to(accelerator.device), "sum").cpu()
        loss, correct, count = totals.tolist()
        if count == 0:
            return {}
        return {"eval/loss": loss / count, "eval/accuracy": correct / count}

    # -- checkpoints -------------------------------------------------------------------------

    def save_checkpoint(self, checkpoints_dir: str | Path) -> Path:
        """Save the full state as ``step-<N>``, atomically: written to a temporary folder that is
        renamed once complete, so a crash mid-save leaves the previous checkpoints untouched.
        Keeps the newest ``keep_last``."""
        accelerator = self.accelerator
        checkpoints_dir = Path(checkpoints_dir)
        final = checkpoints_dir / f"{CHECKPOINT_PREFIX}{self.progress.step:08d}"
        temporary = checkpoints_dir / f".tmp-{final.name}"
        if accelerator.is_main_process:
            checkpoints_dir.mkdir(parents=True, exist_ok=True)
            shutil.rmtree(temporary, ignore_errors=True)
        accelerator.wait_for_everyone()
        try:
            with filesystem_errors(final, "saving the checkpoint"):
                accelerator.save_state(str(temporary))
        except BaseException:
            shutil.rmtree(temporary, ignore_errors=True)  # the space a full disk needs back
            raise
        accelerator.wait_for_everyone()
        if accelerator.is_main_process:
            state = {
                **dataclasses.asdict(self.progress),
                "num_processes": accelerator.num_processes,
                "settings": self.settings,
                "files": file_digests(temporary),
            }
            write_json_atomically(temporary / STATE_FILE, state)  # last: a checkpoint without it is incomplete
            _replace_directory(temporary, final)
            for old in list_checkpoints(checkpoints_dir)[: -self.config.keep_last]:
                shutil.rmtree(old, ignore_errors=True)
        accelerator.wait_for_everyone()
        self.last_checkpoint = final
        return final

    def load_checkpoint(self, path: str | Path) -> None:
        """Restore the state saved in ``path``, if it was saved with this run's settings (up to
        :data:`SAFE_TO_CHANGE_ON_RESUME`, which are announced) and as many processes."""
        path = Path(path)
        state = json.loads((path / STATE_FILE).read_text())
        safe_changes = check_resume_settings(
            state.get("settings"), self.settings, checkpoint=path, safe=SAFE_TO_CHANGE_ON_RESUME
        )
        if state["num_processes"] != self.accelerator.num_processes:
            raise UserError(
                f"{path} was saved by {state['num_processes']} process(es); resume it with as many "
                f"(now {self.accelerator.num_processes}), or the data order and masks change"
            )
        if safe_changes:
            self.accelerator.print(f"resuming with changed bookkeeping settings: {describe_changes(safe_changes)}")
        self.accelerator.load_state(str(path))
        self.progress = TrainingProgress(
            **{field.name: state[field.name] for field in dataclasses.fields(TrainingProgress)}
        )
        self.last_checkpoint = path

    def newest_intact_checkpoint(self, checkpoints_dir: Path) -> Path:
        """The newest checkpoint whose files match their recorded digests. Newer damaged ones (a disk
        fault, a copy cut short) are renamed aside by the main process, each announced in one line."""
        accelerator = self.accelerator
        checkpoints = list_checkpoints(checkpoints_dir)
        if not checkpoints:
            raise UserError(f"nothing to resume: no complete checkpoint in {checkpoints_dir}")
        damaged = []
        for checkpoint in reversed(checkpoints):
            problem = checkpoint_problem(checkpoint)
            if problem is None:
                break
            damaged.append((checkpoint, problem))
        else:
            checkpoint = None
        accelerator.wait_for_everyone()  # every process has read them before they move
        for path, problem in damaged:
            aside = set_aside(path) if accelerator.is_main_process else path.with_name(f"{DAMAGED_PREFIX}{path.name}")
            then = f"resuming from {checkpoint.name}" if checkpoint else "no intact checkpoint is left"
            accelerator.print(f"checkpoint {path} is damaged ({problem}): moved it to {aside.name}; {then}")
        accelerator.wait_for_everyone()
        if checkpoint is None:
            raise UserError(f"no intact checkpoint in {checkpoints_dir} (damaged ones were set aside); {RESTART_HINT}")
        return checkpoint

    # -- the loop ----------------------------------------------------------------------------

    def fit(self, output_dir: str | Path, *, resume: bool = False) -> None:
        """Train to ``total_steps``, logging to ``output_dir/logs`` and checkpointing to
        ``output_dir/checkpoints``."""
        from tqdm.auto import tqdm

        accelerator, config = self.accelerator, self.config
        output_dir = Path(output_dir)
        checkpoints_dir = output_dir / "checkpoints"
        if resume:
            checkpoint = self.newest_intact_checkpoint(checkpoints_dir)
            self.load_checkpoint(checkpoint)
            accelerator.print(f"resumed from {checkpoint} (step {self.progress.step} of {self.total_steps})")
        elif list_checkpoints(checkpoints_dir):
            raise UserError(
                f"{checkpoints_dir} already holds checkpoints of a run; resume it, or {RESTART_HINT}"
            )
        run_log = RunLogger(
            output_dir / "logs", enabled=accelerator.is_main_process, resume_step=self.progress.step if resume else None
        )
        progress = self.progress
        if not resume:
            run_log.log(0, self.evaluate())
        bar = tqdm(total=self.total_steps, initial=progress.step, desc="mlm", disable=not accelerator.is_main_process)
        last_eval_step = progress.step
        window_start = time.perf_counter()
        try:
            while progress.step < self.total_steps:
                self.train_sampler.set_epoch(progress.epoch)
                self.train_loader.set_epoch(progress.epoch)
                loader = self.train_loader
                if progress.batches_in_epoch:
                    loader = accelerator.skip_first_batches(self.train_loader, progress.batches_in_epoch)
                for batch in loader:
                    lr = self.scheduler.get_last_lr()[0]
                    grad_norm = self.train_batch(batch)
                    progress.batches_in_epoch += 1
                    if grad_norm is None:
                        continue
                    progress.step += 1
                    bar.update(1)
                    if progress.step % config.log_every == 0 or progress.step == self.total_steps:
                        release_freed_memory()  # before the resident size is logged: what is really held
                        metrics = self._window_metrics(time.perf_counter() - window_start, lr, grad_norm)
                        bar.set_postfix(loss=f"{metrics['train/loss']:.3f}", lr=f"{lr:.2e}")
                        run_log.log(progress.step, metrics)
                        window_start = time.perf_counter()
                    if progress.step % config.eval_every == 0 or progress.step == self.total_steps:
                        run_log.log(progress.step, self.evaluate())
                        last_eval_step = progress.step
                        window_start = time.perf_counter()
                    if progress.step % config.save_every == 0 or progress.step == self.total_steps:
                        self.save_checkpoint(checkpoints_dir)
                        window_start = time.perf_counter()
                    if progress.step >= self.total_steps:
                        break
                else:
                    progress.epoch += 1
                    progress.batches_in_epoch = 0
        except NonFiniteLossError as error:
            run_log.log(progress.step, {"event": "stopped", "reason": str(error)})
            raise
        finally:
            bar.close()
            run_log.close()
        if last_eval_step != progress.step:
            run_log.log(progress.step, self.evaluate())
        if config.plot_curves and accelerator.is_main_process:
            run_log.plot(output_dir / "curves.png")

    def _window_metrics(self, seconds: float, lr: float, grad_norm: torch.Tensor) -> dict[str, float]:
        """Train metrics since the last log line, summed over processes."""
        import psutil

        window = self.accelerator.reduce(self._window.to(self.accelerator.device), "sum").cpu()
        loss_sum, batches, tokens = window.tolist()
        self._window.zero_()
        return {
            "train/loss": loss_sum / max(batches, 1),
            "train/lr": lr,
            "train/grad_norm": float(grad_norm),
            "train/tokens_per_second": tokens / max(seconds, 1e-9),
            "train/epoch": self.progress.epoch + self.progress.batches_in_epoch / len(self.train_loader),
            "system/rss_mb": psutil.Process().memory_info().rss / 2**20,
        }

    def save_model(self, model_dir: str | Path) -> Path:
        """The trained model with its tokenizer and remote code, loadable by ``from_pretrained``."""
        accelerator = self.accelerator
        model_dir = Path(model_dir)
        accelerator.wait_for_everyone()
        model = accelerator.unwrap_model(self.model)
        with filesystem_errors(model_dir, "saving the model to"):
            model.save_pretrained(
                model_dir, is_main_process=accelerator.is_main_process, save_function=accelerator.save
            )
            if accelerator.is_main_process:
                self.tokenizer.save_pretrained(model_dir)
        accelerator.wait_for_everyone()
        return model_dir


# ---------------------------------------------------------------------------------------------
# Entry points


def train_mlm(
    config: MlmConfig,
    *,
    model_config,
    tokenizer,
    dataset: Mapping,
    output_dir: str | Path,
    model_dir: str | Path | None = None,
    resume: bool = False,
    init_from: str | Path | None = None,
    accelerator=None,
    settings: Mapping[str, object] | None = None,
) -> Path:
    """Pre-train VerseBERT with masked language modeling; returns the final model's directory.

    ``model_config`` is a VerseBertConfig for the shape (its vocabulary size and special ids are
    replaced by the tokenizer's). ``dataset`` maps ``train`` (and optionally ``validation``) to
    ``datasets.Dataset``s with an ``input_ids`` column of unpadded, unmasked ``[CLS] … [SEP]``
    sequences, as built by :func:`versebert.data.mlm_corpus.build_mlm_corpus`.
    ``output_dir`` receives ``checkpoints/``, ``logs/`` (JSONL + TensorBoard) and ``curves.png``;
    the model goes to ``model_dir`` (default ``output_dir/model``). ``init_from`` (default
    ``config.init_from``) warm-starts from a BERT checkpoint (a directory or a name
    :func:`resolve_warm_start` knows; ``tokenizer`` must be its tokenizer), recorded in the model
    directory; ``resume`` continues from the newest intact checkpoint in ``output_dir``, if it was
    saved with the same settings. ``settings`` adds what the caller knows the data depends on (the
    preset's tokenizer and data sections) to what checkpoints record and a resume compares.
    ``accelerator`` defaults to :func:`make_accelerator`'s.
    """
    from accelerate.utils import set_seed

    from modeling_versebert import VerseBertForMaskedLM

    from .warm_start import resolve_warm_start, warm_start

    init_from = init_from if init_from is not None else config.init_from
    source = resolve_warm_start(init_from).with_layers(config.init_layers) if init_from is not None else None
    if "train" not in dataset:
        raise UserError("the MLM dataset has no 'train' split")
    accelerator = accelerator or make_accelerator(config)
    # Model init and dropout (one stream per process); masks and data order have their own seeds.
    set_seed(config.seed + accelerator.process_index)
    model = VerseBertForMaskedLM(config_for_tokenizer(model_config, tokenizer))
    if source is not None and not resume:  # a resumed run loads its own weights
        accelerator.print(warm_start(model, source.path, source.layers).summary())
    trainer = MlmTrainer(
        config,
        model=model,
        tokenizer=tokenizer,
        train=TokenSequences.from_dataset(dataset["train"]),
        validation=TokenSequences.from_dataset(dataset["validation"]) if "validation" in dataset else None,
        accelerator=accelerator,
        settings={**(settings or {}), "warm_start": str(source.path) if source is not None else None},
    )
    trainer.accelerator.print(
        f"MLM: {trainer.total_steps} steps ({trainer.warmup_steps} warmup), "
        f"{len(dataset['train'])} training sequences, {trainer.accelerator.num_processes} process(es), "
        f"mixed precision {trainer.accelerator.mixed_precision}"
    )
    trainer.fit(output_dir, resume=resume)
    saved = trainer.save_model(model_dir or Path(output_dir) / "model")
    if source is not None and accelerator.is_main_process:
        source.save(saved)
    return saved


def pretrain_from_preset(
    preset: Preset,
    *,
    output_dir: str | Path,
    model_dir: str | Path | None = None,
    tokenizer_dir: str | Path | None = None,
    resume: bool = False,
    restart: bool = False,
    init_from: str | Path | None = None,
    cache_dir: str | Path | None = None,
) -> Path:
    """Build whatever is not given (tokenizer, corpus) from the preset, then :func:`train_mlm`.

    ``init_from`` defaults to the preset's ``mlm.init_from``. The tokenizer is, in order: the
    ``init_from`` checkpoint's (its vocabulary is the weights'), the one in ``tokenizer_dir`` (default
    ``output_dir/tokenizer``) if it exists, or a new WordPiece tokenizer trained on the preset's
    translations and saved there (so a resumed run reuses it).
    Preparation runs on the main process first, so the other processes read what it built.
    ``restart`` first discards what an earlier run left in ``output_dir`` (its checkpoints, logs and,
    unless ``tokenizer_dir`` is given, the tokenizer it trained).
    """
    from ..data.mlm_corpus import build_mlm_corpus
    from ..data.tokenizer import load_tokenizer
    from .warm_start import resolve_warm_start

    output_dir = Path(output_dir)
    init_from = init_from if init_from is not None else preset.mlm.init_from
    accelerator = make_accelerator(preset.mlm)
    if restart and accelerator.is_main_process:
        discard_run(output_dir)
        if tokenizer_dir is None:
            shutil.rmtree(output_dir / "tokenizer", ignore_errors=True)
    tokenizer_dir = Path(tokenizer_dir or output_dir / "tokenizer")
    with accelerator.main_process_first():  # the others then load what the main process built
        if init_from is not None:
            tokenizer = load_tokenizer(resolve_warm_start(init_from).path)
        elif (tokenizer_dir / "tokenizer.json").is_file():
            tokenizer = load_tokenizer(tokenizer_dir)
        else:
            tokenizer = _train_tokenizer(preset, tokenizer_dir)
        dataset = build_mlm_corpus(
            tokenizer,
            list(preset.data.translations),
            max_length=preset.tokenizer.max_length,
            validation_fraction=preset.data.validation_fraction,
            seed=preset.data.seed,
            exclude_flagged=preset.data.exclude_flagged,
            drop_quotes=preset.data.drop_quotes,
            cache_dir=cache_dir,
        )
    return train_mlm(
        preset.mlm,
        model_config=preset.model.to_config(vocab_size=len(tokenizer)),
        tokenizer=tokenizer,
        dataset=dataset,
        output_dir=output_dir,
        model_dir=model_dir,
        resume=resume and not restart,
        init_from=init_from,
        accelerator=accelerator,
        settings={
            "tokenizer": preset.tokenizer,
            "data": preset.data,
            "vocabulary": digest([json.dumps(sorted(tokenizer.get_vocab().items())).encode()]),
        },
    )


def _train_tokenizer(preset: Preset, directory: Path):
    from ..data.bible import load_verses
    from ..data.tokenizer import train_wordpiece_tokenizer

    texts = [
        verse.text
        for code in preset.data.translations
        for verse in load_verses(code, drop_quotes=preset.data.drop_quotes)
    ]
    return train_wordpiece_tokenizer(
        texts,
        vocab_size=preset.tokenizer.vocab_size,
        output_dir=directory,
        lowercase=preset.tokenizer.lowercase,
        model_max_length=preset.model.max_position_embeddings,
    )


__all__ = [
    "MlmTrainer",
    "NonFiniteLossError",
    "SAFE_TO_CHANGE_ON_RESUME",
    "TrainingProgress",
    "checkpoint_problem",
    "config_for_tokenizer",
    "list_checkpoints",
    "lr_multiplier",
    "make_accelerator",
    "parameter_groups",
    "pretrain_from_preset",
    "train_mlm",
]
