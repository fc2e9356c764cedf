"""A search index on disk: BM25 and (optionally) dense embeddings for one or more translations.

Layout of an index directory (no pickle anywhere)::

    index.json                 metadata: translations, corpus fingerprints, BM25 settings, model
    bm25/<TRANSLATION>/        bm25s' save format (.npy arrays + JSON vocabulary) and verse ids
    dense/<TRANSLATION>.safetensors   embeddings + verse ids

An index is only valid for the texts and the model it was built from: loading recomputes the
fingerprint of each translation's text and of the model directory's files and refuses a mismatch,
instead of silently ranking verses with embeddings from another model or another text.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import UserError
from .bm25 import BM25Config, BM25Index
from .corpus import VerseCorpus
from .dense import DenseEncoder, DenseIndex, check_model_dir

FORMAT = "versebert-search-index"
FORMAT_VERSION = 1
METADATA_FILE = "index.json"


@dataclass
class SearchIndex:
    """Everything a :class:`~.searcher.VerseSearcher` needs, keyed by translation code."""

    corpora: dict[str, VerseCorpus]
    bm25: dict[str, BM25Index]
    dense: dict[str, DenseIndex] = field(default_factory=dict)
    encoder: DenseEncoder | None = None
    bm25_config: BM25Config = field(default_factory=BM25Config)

    def __post_init__(self) -> None:
        if not self.corpora:
            raise ValueError("SearchIndex.corpora is empty: index at least one translation")
        for name, indexes in (("bm25", self.bm25), ("dense", self.dense)):
            for code, index in indexes.items():
                corpus = self.corpora.get(code)
                if corpus is None or len(index) != len(corpus):
                    raise ValueError(f"SearchIndex.{name}[{code!r}] does not match the {code} corpus")
        if bool(self.dense) != (self.encoder is not None):
            raise ValueError("SearchIndex.dense and SearchIndex.encoder go together")

    @property
    def translations(self) -> list[str]:
        return list(self.corpora)

    @classmethod
    def build(
        cls, corpora: Sequence[VerseCorpus], encoder: DenseEncoder | None = None, *,
        bm25_config: BM25Config | None = None, show_progress: bool = True,
    ) -> SearchIndex:
        """Index each corpus with BM25 and, given an encoder, embed it (with a progress bar)."""
        bm25_config = bm25_config or BM25Config()
        by_code = _by_code(corpora)
        bm25 = {code: BM25Index.build(c.verse_ids, c.texts, bm25_config) for code, c in by_code.items()}
        dense = {}
        if encoder is not None:
            for code, corpus in by_code.items():
                if show_progress:  # stderr, like the progress bar: stdout may be JSON
                    print(f"Embedding {len(corpus):,} {code} verses with {encoder.name}", file=sys.stderr, flush=True)
                dense[code] = DenseIndex.build(encoder, corpus.verse_ids, corpus.texts, show_progress=show_progress)
        return cls(by_code, bm25, dense, encoder, bm25_config)

    def metadata(self) -> dict:
        model = None
        if self.encoder is not None:
            model = {
                "name": self.encoder.name,
                "path": str(self.encoder.path),
                "fingerprint": self.encoder.fingerprint,
                "dimension": self.encoder.dimension,
            }
        return {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "translations": self.translations,
            "corpora": {
                code: {"verses": len(corpus), "fingerprint": corpus.fingerprint}
                for code, corpus in self.corpora.items()
            },
            "bm25": dataclasses.asdict(self.bm25_config),
            "model": model,
        }

    def save(self, directory: str | Path) -> Path:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        for code, index in self.bm25.items():
            index.save(directory / "bm25" / code)
        if self.dense:
            (directory / "dense").mkdir(exist_ok=True)
            for code, index in self.dense.items():
                index.save(directory / "dense" / f"{code}.safetensors")
        metadata = self.metadata()
        if metadata["model"] is not None:
            # Also relative to the index: a run directory holding both can be moved or copied whole.
            metadata["model"]["relative_path"] = os.path.relpath(Path(self.encoder.path).resolve(), directory.resolve())
        # Written last: a directory without it is an interrupted build, not an index.
        (directory / METADATA_FILE).write_text(json.dumps(metadata, indent=2) + "\n")
        return directory

    @classmethod
    def load(
        cls, directory: str | Path, *, corpora: Sequence[VerseCorpus] | None = None,
        encoder: DenseEncoder | None = None,
    ) -> SearchIndex:
        """Load an index and check it against the texts and the model it will be used with.

        ``corpora`` default to loading the recorded translations; ``encoder`` to the recorded model
        directory. A different text or model raises :class:`UserError` with what differs.
        """
        directory = Path(directory)
        metadata = read_metadata(directory)
        codes = metadata["translations"]
        if corpora is None:
            corpora = [VerseCorpus.from_translation(code) for code in codes]
        by_code = _by_code(corpora)
        if sorted(by_code) != sorted(codes):
            raise UserError(f"index {directory} covers {', '.join(codes)}, but the corpora given are "
                            f"{', '.join(by_code)}")
        for code in codes:
            recorded = metadata["corpora"][code]["fingerprint"]
            if by_code[code].fingerprint != recorded:
                raise UserError(
                    f"index {directory} was built from a different {code} text (corpus fingerprint "
                    f"{recorded[:12]}, now {by_code[code].fingerprint[:12]}); rebuild it with `versebert index build`"
                )
        encoder = _checked_encoder(directory, metadata.get("model"), encoder)
        bm25 = {code: BM25Index.load(directory / "bm25" / code) for code in codes}
        dense = {}
        if encoder is not None:
            dense = {code: DenseIndex.load(directory / "dense" / f"{code}.safetensors") for code in codes}
            for code, index in dense.items():
                if index.dimension != encoder.dimension:
                    raise UserError(f"index {directory}: {code} embeddings have {index.dimension} dimensions, "
                                    f"the model {encoder.dimension}")
        return cls(by_code, bm25, dense, encoder, BM25Config(**metadata["bm25"]))


def read_metadata(directory: Path) -> dict:
    """The index's ``index.json``, or a :class:`UserError` if ``directory`` holds no index."""
    path = directory / METADATA_FILE
    if not path.is_file():
        raise UserError(f"{directory} is not a VerseBERT search index (no {METADATA_FILE}); "
                        f"build one with `versebert index build`")
    try:
        metadata = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise UserError(f"{path} is not valid JSON: {error}") from None
    if metadata.get("format") != FORMAT or metadata.get("format_version") != FORMAT_VERSION:
        raise UserError(f"{path}: unsupported index format {metadata.get('format')!r} "
                        f"version {metadata.get('format_version')!r}; rebuild it with `versebert index build`")
    return metadata


def _checked_encoder(directory: Path, recorded: dict | None, encoder: DenseEncoder | None) -> DenseEncoder | None:
    if recorded is None:
        if encoder is not None:
            raise UserError(f"index {directory} has no dense embeddings (it was built without --model); "
                            f"rebuild it with --model {encoder.path} or search without --model")
        return None
    if encoder is None:
        encoder = DenseEncoder(check_model_dir(_recorded_model_path(directory, recorded)))
    if encoder.fingerprint != recorded["fingerprint"]:
        raise UserError(
            f"index {directory} was built with a different model ({recorded['name']}, fingerprint "
            f"{recorded['fingerprint'][:12]}) than {encoder.path} (fingerprint {encoder.fingerprint[:12]}); "
            f"rebuild it with `versebert index build --model {encoder.path}`"
        )
    return encoder


def _recorded_model_path(directory: Path, recorded: dict) -> Path:
    """The index's model: where it sits relative to the index (the run directory moved together) or,
    failing that, at its recorded absolute path (the index moved alone)."""
    candidates = [Path(recorded["path"])]
    if "relative_path" in recorded:
        candidates.insert(0, directory / recorded["relative_path"])
    for path in candidates:
        if path.exists():
            return path
    raise UserError(f"index {directory} was built with the model at {candidates[-1]}, which no longer exists; "
                    f"pass the model with --model")


def _by_code(corpora: Sequence[VerseCorpus]) -> dict[str, VerseCorpus]:
    by_code = {}
    for corpus in corpora:
        if corpus.translation in by_code:
            raise ValueError(f"translation {corpus.translation} given twice")
        by_code[corpus.translation] = corpus
    return by_code
