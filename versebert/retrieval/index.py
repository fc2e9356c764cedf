"""A search index on disk: BM25 (joined or per translation), optional dense embeddings, optional
topic knowledge (verse prior + topic memory) and the fusion weights chosen for them.

Layout of an index directory (no pickle anywhere)::

    index.json                    metadata: translations, documents, fingerprints, BM25 settings,
                                  model, knowledge, and the size and CRC-32 of every file below
    corpus/<TRANSLATION>.json     verse ids and cleaned texts: what was indexed and is shown
    bm25/<KEY>/                   BM25 arrays + vocabulary; KEY is "joined" or a translation code
    dense/<TRANSLATION>.safetensors   verse embeddings + verse ids
    knowledge/knowledge.json.gz   judged topics (train), knowledge/bm25/ their BM25 index,
                                  knowledge/dense.safetensors their embeddings (with a model)
    versebert_fusion.json         fusion weights (optional)

An index is only valid for the texts and the model it was built from: given corpora are checked
against the recorded fingerprints, every stored file against its recorded size and CRC-32 (a corpus
file when it is first read), and a model directory against its recorded fingerprint, so a mismatch
or a damaged file is refused instead of silently ranking verses with embeddings from another model
or another text. Corpora load lazily: a search reads only the texts it shows.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
import zlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..conventions import DEFAULT_TRANSLATION
from ..errors import UserError
from .bm25 import BM25Config, BM25Index
from .corpus import VerseCorpus
from .dense import DenseEncoder, DenseIndex, check_model_dir
from .fusion_weights import FusionWeights
from .topic_knowledge import TopicKnowledge
from .topic_memory import TopicMemory
from .verse_documents import JOINED, VerseDocuments, build_joined_index

FORMAT = "versebert-search-index"
FORMAT_VERSION = 2
METADATA_FILE = "index.json"
PER_TRANSLATION = VerseDocuments(joined=False, neighbours=0)


@dataclass
class SearchIndex:
    """Everything a :class:`~.searcher.VerseSearcher` needs.

    ``corpora`` by translation code; ``bm25`` by translation code or ``"joined"``; ``dense`` by
    translation code (a subset of the corpora: embedding all eight Bibles costs eight times the
    time for little gain, so by default only the WEB's); ``memory`` holds the topic knowledge.
    """

    corpora: Mapping[str, VerseCorpus]
    bm25: dict[str, BM25Index]
    dense: dict[str, DenseIndex] = field(default_factory=dict)
    encoder: DenseEncoder | None = None
    bm25_config: BM25Config = field(default_factory=BM25Config)
    documents: VerseDocuments = PER_TRANSLATION
    memory: TopicMemory | None = None
    fusion: FusionWeights | None = None

    def __post_init__(self) -> None:
        if not self.corpora:
            raise ValueError("SearchIndex.corpora is empty: index at least one translation")
        for code in self.bm25:
            if code != JOINED and code not in self.corpora:
                raise ValueError(f"SearchIndex.bm25[{code!r}] has no {code} corpus")
        for code in self.dense:
            if code not in self.corpora:
                raise ValueError(f"SearchIndex.dense[{code!r}] has no {code} corpus")
        if not isinstance(self.corpora, StoredCorpora):  # stored ones were checked when saved
            for name, indexes in (("bm25", self.bm25), ("dense", self.dense)):
                for code, index in indexes.items():
                    if code != JOINED and len(index) != len(self.corpora[code]):
                        raise ValueError(f"SearchIndex.{name}[{code!r}] does not match the {code} corpus")
        if bool(self.dense) != (self.encoder is not None):
            raise ValueError("SearchIndex.dense and SearchIndex.encoder go together")
        if self.memory is not None and self.encoder is not None and self.memory.embeddings is None:
            raise ValueError("SearchIndex.memory needs topic embeddings when the index has a model")

    @property
    def translations(self) -> list[str]:
        return list(self.corpora)

    @property
    def knowledge(self) -> TopicKnowledge | None:
        return self.memory.knowledge if self.memory is not None else None

    @classmethod
    def build(
        cls, corpora: Sequence[VerseCorpus], encoder: DenseEncoder | None = None, *,
        bm25_config: BM25Config | None = None, documents: VerseDocuments = PER_TRANSLATION,
        knowledge: TopicKnowledge | None = None, dense_translations: Sequence[str] | None = None,
        fusion: FusionWeights | None = None, show_progress: bool = True,
    ) -> SearchIndex:
        """Index the corpora with BM25 (joined or per translation), embed the ``dense_translations``
        (default: WEB if indexed, else the first) given an encoder, and index ``knowledge``'s topics."""
        bm25_config = bm25_config or BM25Config()
        by_code = _by_code(corpora)
        if documents.joined:
            bm25 = {JOINED: build_joined_index(list(by_code.values()), documents, bm25_config)}
        else:
            bm25 = {code: BM25Index.build(c.verse_ids, c.texts, bm25_config) for code, c in by_code.items()}
        dense = {}
        if encoder is not None:
            if dense_translations is None:
                dense_translations = [DEFAULT_TRANSLATION if DEFAULT_TRANSLATION in by_code else next(iter(by_code))]
            for code in dense_translations:
                if code not in by_code:
                    raise UserError(f"cannot embed {code}: it is not among the indexed translations")
                corpus = by_code[code]
                if show_progress:  # stderr, like the progress bar: stdout may be JSON
                    print(f"Embedding {len(corpus):,} {code} verses with {encoder.name}", file=sys.stderr, flush=True)
                dense[code] = DenseIndex.build(encoder, corpus.verse_ids, corpus.texts, show_progress=show_progress)
        memory = TopicMemory.build(knowledge, bm25_config, encoder) if knowledge is not None else None
        return cls(by_code, bm25, dense, encoder, bm25_config, documents, memory, fusion)

    def metadata(self) -> dict:
        model = None
        if self.encoder is not None:
            model = {
                "name": self.encoder.name,
                "path": str(self.encoder.path),
                "fingerprint": self.encoder.fingerprint,
                "dimension": self.encoder.dimension,
            }
        knowledge = None
        if self.knowledge is not None:
            knowledge = {"source": self.knowledge.source, "topics": len(self.knowledge)}
        return {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "translations": self.translations,
            "corpora": {
                code: {"verses": len(corpus), "fingerprint": corpus.fingerprint}
                for code, corpus in self.corpora.items()
            },
            "documents": dataclasses.asdict(self.documents),
            "bm25": dataclasses.asdict(self.bm25_config),
            "bm25_indexes": list(self.bm25),
            "dense_translations": list(self.dense),
            "model": model,
            "knowledge": knowledge,
        }

    def save(self, directory: str | Path) -> Path:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        metadata = self.metadata()  # before writing: a stored corpus is read (and checked) here
        (directory / "corpus").mkdir(exist_ok=True)
        for code, corpus in self.corpora.items():
            (directory / "corpus" / f"{code}.json").write_text(
                json.dumps({"translation": code, "verse_ids": corpus.verse_ids, "texts": corpus.texts},
                           ensure_ascii=False))
        for code, index in self.bm25.items():
            index.save(directory / "bm25" / code)
        if self.dense:
            (directory / "dense").mkdir(exist_ok=True)
            for code, index in self.dense.items():
                index.save(directory / "dense" / f"{code}.safetensors")
        if self.memory is not None:
            self.knowledge.save(directory / "knowledge" / "knowledge.json.gz")
            self.memory.bm25.save(directory / "knowledge" / "bm25")
            if self.memory.embeddings is not None:
                DenseIndex(range(len(self.knowledge)), self.memory.embeddings).save(
                    directory / "knowledge" / "dense.safetensors")
        if self.fusion is not None:
            self.fusion.save(directory)
        if metadata["model"] is not None:
            # Also relative to the index: a run directory holding both can be moved or copied whole.
            metadata["model"]["relative_path"] = os.path.relpath(Path(self.encoder.path).resolve(), directory.resolve())
        metadata["files"] = {
            path.relative_to(directory).as_posix(): _file_check(path)
            for path in sorted(directory.rglob("*")) if path.is_file() and path.name != METADATA_FILE
        }
        # Written last: a directory without it is an interrupted build, not an index.
        (directory / METADATA_FILE).write_text(json.dumps(metadata, indent=2) + "\n")
        return directory

    @classmethod
    def load(
        cls, directory: str | Path, *, corpora: Sequence[VerseCorpus] | None = None,
        encoder: DenseEncoder | None = None, verify: bool = True,
    ) -> SearchIndex:
        """Load an index and check it against the texts and the model it will be used with.

        ``corpora`` default to the texts stored in the index (checked against their fingerprints
        when first read); ``encoder`` to the recorded model directory. A different text or model,
        or a file whose size or CRC-32 changed (``verify``), raises :class:`UserError`.
        """
        directory = Path(directory)
        metadata = read_metadata(directory)
        if verify:
            verify_files(directory, metadata)
        codes = metadata["translations"]
        if corpora is None:
            by_code: Mapping[str, VerseCorpus] = StoredCorpora(directory, metadata)
        else:
            by_code = _by_code(corpora)
            if sorted(by_code) != sorted(codes):
                raise UserError(f"index {directory} covers {', '.join(codes)}, but the corpora given are "
                                f"{', '.join(by_code)}")
            for code in codes:
                _check_fingerprint(directory, code, by_code[code], metadata)
        encoder = _checked_encoder(directory, metadata.get("model"), encoder)
        bm25 = {key: BM25Index.load(directory / "bm25" / key) for key in metadata["bm25_indexes"]}
        dense = {}
        if encoder is not None:
            dense = {code: DenseIndex.load(directory / "dense" / f"{code}.safetensors")
                     for code in metadata["dense_translations"]}
            for code, index in dense.items():
                if index.dimension != encoder.dimension:
                    raise UserError(f"index {directory}: {code} embeddings have {index.dimension} dimensions, "
                                    f"the model {encoder.dimension}")
        memory = None
        if metadata.get("knowledge") is not None:
            knowledge = TopicKnowledge.load(directory / "knowledge" / "knowledge.json.gz")
            embeddings = None
            if encoder is not None:
                embeddings = DenseIndex.load(directory / "knowledge" / "dense.safetensors").embeddings
            memory = TopicMemory(knowledge, BM25Index.load(directory / "knowledge" / "bm25"), embeddings)
        return cls(by_code, bm25, dense, encoder, BM25Config(**metadata["bm25"]),
                   VerseDocuments(**metadata["documents"]), memory, FusionWeights.load(directory))


class StoredCorpora(Mapping):
    """The corpora stored in an index directory, each read (and checked against its recorded
    fingerprint) the first time it is needed: a search shows one translation's texts, not eight."""

    def __init__(self, directory: Path, metadata: dict) -> None:
        self._directory = directory
        self._metadata = metadata
        self._codes = list(metadata["translations"])
        self._loaded: dict[str, VerseCorpus] = {}

    def __getitem__(self, code: str) -> VerseCorpus:
        if code not in self._codes:
            raise KeyError(code)
        if code not in self._loaded:
            name = f"corpus/{code}.json"
            path = self._directory / name
            try:
                raw = path.read_bytes()
                recorded = self._metadata.get("files", {}).get(name)
                if recorded is not None and [len(raw), zlib.crc32(raw)] != list(recorded):
                    raise ValueError("size or CRC-32 changed since it was built")
                data = json.loads(raw)
                corpus = VerseCorpus(data["translation"], tuple(data["verse_ids"]), tuple(data["texts"]))
            except (OSError, ValueError, KeyError, TypeError) as error:
                raise UserError(f"index {self._directory} is damaged: cannot read {name} ({error}); "
                                f"rebuild it with `versebert index build`") from None
            if "files" not in self._metadata:  # no CRC recorded: compare the texts themselves
                _check_fingerprint(self._directory, code, corpus, self._metadata)
            self._loaded[code] = corpus
        return self._loaded[code]

    def __contains__(self, code: object) -> bool:  # without reading the texts (Mapping's would)
        return code in self._codes

    def __iter__(self) -> Iterator[str]:
        return iter(self._codes)

    def __len__(self) -> int:
        return len(self._codes)


CRC_LIMIT = 1 << 23  # files up to 8 MB get a CRC; larger ones (BM25 arrays) their size


def _file_check(path: Path) -> list[int]:
    """``[size, CRC-32]`` for files up to :data:`CRC_LIMIT` (texts, vocabularies, knowledge, settings:
    a damaged one would change what is shown), ``[size]`` for the large BM25 arrays, which are
    memory-mapped so that a search reads only its terms' columns (reading all 40 MB for a CRC would
    cost a search more than its query)."""
    size = path.stat().st_size
    if size > CRC_LIMIT:
        return [size]
    return [size, zlib.crc32(path.read_bytes())]


def verify_files(directory: Path, metadata: dict) -> None:
    """Refuse an index whose files are missing or differ from what was saved. Corpus files get only
    their size checked here, their CRC when :class:`StoredCorpora` reads one (a search reads one of
    eight)."""
    for name, recorded in metadata.get("files", {}).items():
        path = directory / name
        lazy = name.startswith("corpus/")
        if not path.is_file() or (path.stat().st_size != recorded[0] if lazy else _file_check(path) != list(recorded)):
            raise UserError(f"index {directory} is damaged: {name} is missing or changed since it was built; "
                            f"rebuild it with `versebert index build`")


def _check_fingerprint(directory: Path, code: str, corpus: VerseCorpus, metadata: dict) -> None:
    recorded = metadata["corpora"][code]["fingerprint"]
    if corpus.fingerprint != recorded:
        raise UserError(
            f"index {directory} was built from a different {code} text (corpus fingerprint "
            f"{recorded[:12]}, now {corpus.fingerprint[:12]}); rebuild it with `versebert index build`"
        )


def read_metadata(directory: Path) -> dict:
    """The index's ``index.json``, or a :class:`UserError` if ``directory`` holds no index."""
    path = Path(directory) / METADATA_FILE
    if not path.is_file():
        raise UserError(f"{directory} is not a VerseBERT search index (no {METADATA_FILE}); "
                        f"build one with `versebert index build`")
    try:
        metadata = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise UserError(f"{path} is not valid JSON: {error}") from None
    if not isinstance(metadata, dict):
        raise UserError(f"{path} holds a JSON {type(metadata).__name__}, not an index description; "
                        "rebuild it with `versebert index build`")
    if metadata.get("format") != FORMAT or metadata.get("format_version") != FORMAT_VERSION:
        raise UserError(f"{path}: unsupported index format {metadata.get('format')!r} "
                        f"version {metadata.get('format_version')!r}; rebuild it with `versebert index build`")
    missing = [key for key in ("translations", "corpora") if not metadata.get(key)]
    if missing:
        raise UserError(f"{path} has no {' or '.join(missing)}; rebuild it with `versebert index build`")
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
