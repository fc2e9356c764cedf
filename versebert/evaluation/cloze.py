"""MLM cloze probe: hide a meaningful word of a verse and see whether a masked LM restores it.

For each item (verse id, target word) the first whole-word, case-insensitive occurrence of the word
in the verse text is masked with one mask token per wordpiece the tokenizer gives it in context
(found through the fast tokenizer's offsets, so the rest of the verse is tokenized exactly as
usual). Candidates for the hidden word are ranked by a beam search over the masked positions,
scoring each piece sequence by the sum of its per-position log-probabilities (the positions are
predicted jointly in one forward pass, so this is the model's factorised guess). An item is correct
at k when the target's piece sequence is among the top k candidates.

Works with any ``AutoModelForMaskedLM`` and fast tokenizer; the default items
(``cloze_items.json``) are ~30 theologically central words in well-known WEB verses.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from importlib import resources
from pathlib import Path

from ..conventions import DEFAULT_TRANSLATION
from ..errors import UserError

DEFAULT_ITEMS = "cloze_items.json"


@dataclass(frozen=True)
class ClozeItem:
    verse_id: int
    word: str


@dataclass(frozen=True)
class ClozeResult:
    verse_id: int
    word: str
    masked_text: str
    target: list[str]  # the word's wordpieces
    predictions: list[str]  # top-k candidate words, best first
    target_rank: int | None  # 1-based rank of the target among the candidates, None if not in top k

    @property
    def correct_at_1(self) -> bool:
        return self.target_rank == 1


@dataclass(frozen=True)
class ClozeReport:
    top_k: int
    top1_accuracy: float
    topk_accuracy: float
    results: list[ClozeResult]
    skipped_verse_ids: list[int] = field(default_factory=list)  # items whose verse the translation lacks

    def to_dict(self) -> dict:
        return asdict(self)


def load_items(path: str | Path | None = None) -> tuple[str, list[ClozeItem]]:
    """Items and the translation their words were checked against (default: the packaged list)."""
    if path is None:
        raw = resources.files(__package__).joinpath(DEFAULT_ITEMS).read_text(encoding="utf-8")
        source = DEFAULT_ITEMS
    else:
        try:
            raw = Path(path).read_text(encoding="utf-8")
        except FileNotFoundError:
            raise UserError(f"cloze items file not found: {path}") from None
        source = str(path)
    try:
        data = json.loads(raw)
        items = [ClozeItem(int(item["verse_id"]), str(item["word"])) for item in data["items"]]
        translation = str(data.get("translation", DEFAULT_TRANSLATION))
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as error:
        raise UserError(
            f"{source}: expected {{'translation': 'WEB', 'items': [{{'verse_id': 43003016, 'word': 'loved'}}, ...]}} "
            f"({error})"
        ) from None
    if not items:
        raise UserError(f"{source}: no cloze items")
    return translation, items


def _word_span(text: str, word: str) -> tuple[int, int] | None:
    match = re.search(rf"(?<!\w){re.escape(word)}(?!\w)", text, flags=re.IGNORECASE)
    return match.span() if match else None


def mask_item(text: str, word: str, tokenizer, max_length: int | None = None) -> tuple[list[int], list[int], list[int]]:
    """Token ids of ``text`` with ``word`` masked: ``(input_ids, mask_positions, target_ids)``.

    Raises ``ValueError`` if the word is not in the text (or lies beyond ``max_length`` tokens).
    """
    if not getattr(tokenizer, "is_fast", False):
        raise UserError("the cloze probe needs a fast tokenizer (it locates the word through token offsets)")
    if tokenizer.mask_token_id is None:
        raise UserError("the tokenizer has no mask token, so it cannot be used for a cloze probe")
    span = _word_span(text, word)
    if span is None:
        raise ValueError(f"{word!r} does not occur as a word in {text!r}")
    encoded = tokenizer(text, return_offsets_mapping=True, truncation=max_length is not None, max_length=max_length)
    input_ids = list(encoded["input_ids"])
    positions = [
        i for i, (start, end) in enumerate(encoded["offset_mapping"])
        if end > start and start >= span[0] and end <= span[1]
    ]
    if not positions:
        raise ValueError(f"{word!r} has no tokens within the first {max_length} of {text!r}")
    targets = [input_ids[i] for i in positions]
    for i in positions:
        input_ids[i] = tokenizer.mask_token_id
    return input_ids, positions, targets


def beam_candidates(log_probs, beam: int) -> list[tuple[tuple[int, ...], float]]:
    """Best ``beam`` piece sequences from per-position log-probabilities ``[positions, vocab]``."""
    import torch

    candidates: list[tuple[tuple[int, ...], float]] = [((), 0.0)]
    for row in log_probs:
        values, indices = torch.topk(row, min(beam, row.shape[-1]))
        extended = [
            (pieces + (int(index),), score + float(value))
            for pieces, score in candidates
            for value, index in zip(values, indices, strict=True)
        ]
        candidates = sorted(extended, key=lambda candidate: (-candidate[1], candidate[0]))[:beam]
    return candidates


def _right_padded(sequences: list[list[int]], pad_id: int):
    """Batch tensors padded on the right, so mask positions computed per sequence stay valid."""
    import torch

    length = max(len(ids) for ids in sequences)
    input_ids = torch.full((len(sequences), length), pad_id, dtype=torch.long)
    attention_mask = torch.zeros((len(sequences), length), dtype=torch.long)
    for row, ids in enumerate(sequences):
        input_ids[row, : len(ids)] = torch.tensor(ids)
        attention_mask[row, : len(ids)] = 1
    return input_ids, attention_mask


def run_cloze(
    model, tokenizer, items: Sequence[ClozeItem], texts: Mapping[int, str], *, top_k: int = 5, batch_size: int = 16,
) -> ClozeReport:
    """Probe ``model`` (any masked LM) on ``items`` whose verse texts are in ``texts``."""
    import torch

    if top_k < 1:
        raise ValueError(f"top_k must be >= 1, got {top_k}")
    missing = [item for item in items if item.verse_id not in texts]
    if missing:
        raise UserError(f"{len(missing)} cloze item(s) name verses not in the corpus, e.g. {missing[0].verse_id}")
    max_length = getattr(model.config, "max_position_embeddings", None)
    encoded = []
    for item in items:
        try:
            encoded.append(mask_item(texts[item.verse_id], item.word, tokenizer, max_length))
        except ValueError as error:
            raise UserError(f"cloze item {item.verse_id} {item.word!r}: {error}") from None

    model.eval()
    results = []
    for start in range(0, len(items), batch_size):
        batch = list(zip(items[start : start + batch_size], encoded[start : start + batch_size], strict=True))
        input_ids, attention_mask = _right_padded([ids for _, (ids, _, _) in batch], tokenizer.pad_token_id or 0)
        with torch.inference_mode():
            logits = model(input_ids=input_ids, attention_mask=attention_mask).logits
        for row, (item, (ids, positions, targets)) in enumerate(batch):
            candidates = beam_candidates(torch.log_softmax(logits[row, positions].float(), dim=-1), top_k)
            ranked = [pieces for pieces, _ in candidates]
            results.append(ClozeResult(
                verse_id=item.verse_id,
                word=item.word,
                masked_text=tokenizer.decode(ids),
                target=tokenizer.convert_ids_to_tokens(targets),
                predictions=[tokenizer.decode(list(pieces)).strip() for pieces in ranked],
                target_rank=ranked.index(tuple(targets)) + 1 if tuple(targets) in ranked else None,
            ))
    n = len(results)
    return ClozeReport(
        top_k=top_k,
        top1_accuracy=sum(result.correct_at_1 for result in results) / n,
        topk_accuracy=sum(result.target_rank is not None for result in results) / n,
        results=results,
    )


def probe_checkpoint(
    model_dir: str | Path, *, items_path: str | Path | None = None, translation: str | None = None, top_k: int = 5
) -> ClozeReport:
    """Load a masked LM and its tokenizer from ``model_dir`` and probe it on the verse texts."""
    from transformers import AutoModelForMaskedLM, AutoTokenizer

    from ..retrieval.corpus import VerseCorpus
    from ..retrieval.dense import MASKED_LM, check_model_dir

    path = check_model_dir(model_dir, kind=MASKED_LM)
    item_translation, items = load_items(items_path)
    corpus = VerseCorpus.from_translation(translation or item_translation)
    tokenizer = AutoTokenizer.from_pretrained(str(path), trust_remote_code=True)  # reads our config
    model = AutoModelForMaskedLM.from_pretrained(str(path), trust_remote_code=True)
    present = [item for item in items if item.verse_id in corpus]
    if not present:
        raise UserError(f"none of the {len(items)} cloze items' verses is in {corpus.translation}: choose another")
    texts = {item.verse_id: corpus.text(item.verse_id) for item in present}
    report = run_cloze(model, tokenizer, present, texts, top_k=top_k)
    # A partial translation (OEB: Psalms and the New Testament) still probes the items it holds.
    return replace(report, skipped_verse_ids=[item.verse_id for item in items if item not in present])


def format_report(report: ClozeReport) -> str:
    n = len(report.results)
    low, high = accuracy_interval(round(report.top1_accuracy * n), n)
    lines = [f"top-1 accuracy {report.top1_accuracy:.3f} (95% CI {low:.2f}-{high:.2f}), "
             f"top-{report.top_k} accuracy {report.topk_accuracy:.3f} ({n} items)"]
    if report.skipped_verse_ids:
        lines.append(f"  ({len(report.skipped_verse_ids)} item(s) skipped: their verses are not in the translation)")
    for result in report.results:
        rank = f"#{result.target_rank}" if result.target_rank else f">{report.top_k}"
        lines.append(f"  {result.verse_id:08d} {result.word!r:16} {rank:>4}  {', '.join(result.predictions)}")
    return "\n".join(lines)


def accuracy_interval(correct: int, total: int) -> tuple[float, float]:
    """Wilson 95% interval: with ~30 items, one item is 3 points, so show how wide that is."""
    if total == 0:
        return (0.0, 0.0)
    z = 1.96
    p = correct / total
    centre = (p + z * z / (2 * total)) / (1 + z * z / total)
    half = z * math.sqrt(p * (1 - p) / total + z * z / (4 * total * total)) / (1 + z * z / total)
    return (max(0.0, centre - half), min(1.0, centre + half))
