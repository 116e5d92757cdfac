"""BM25 over tokens (bm25s scoring, built with numpy from token codes), saved atomically and stamped with the catalog generation it reflects; the documents changed since a save are laid over it (LayeredBM25) instead of rebuilding it."""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

import numpy as np

from assistant.text.table import SortedTable

VOCAB_FILE = "vocab.table"  # the vocabulary as a SortedTable: opened in no time, where bm25s's JSON took 0.2 s
SOURCES_FILE = "sources.json"  # the documents a saved index was built from; read only to lay changes over it


@dataclass
class Sources:
    """The documents an index was built from: each one's content hash, and the document of each row. What tells
    which documents changed since, so that only theirs are read again (LayeredBM25)."""

    hashes: dict[str, str]
    row_docs: list[str]  # the doc id of each row, in row order


class BM25Index:
    """A bm25s index whose rows are chunk ids."""

    def __init__(self, retriever, ids: list[str], generation: int, avg_len: float | None = None,
                 sources: Sources | None = None, folder: Path | None = None):
        self.retriever = retriever
        self.ids = ids
        self.generation = generation
        self.avg_len = avg_len  # the rows' mean length in tokens (None in an index saved before it was kept)
        self._sources = sources
        self._folder = folder  # the saved folder its sources are read from, when asked for
        self._positions = {cid: i for i, cid in enumerate(ids)}  # row of each id, for scores_for

    @classmethod
    def build(cls, rows: Iterable[tuple[str, list[str]]], generation: int, sources: Sources | None = None,
              base: "BM25Index | None" = None) -> "BM25Index":
        """The BM25 of (id, tokens) rows (a row with none holds the empty token). Rows are read one at a time and
        only their token codes kept: at 100k passages the token strings themselves would take a gigabyte."""
        vocab: dict[str, int] = {}
        ids, codes = [], []
        for row_id, tokens in rows:
            ids.append(row_id)
            codes.append(np.fromiter((vocab.setdefault(t, len(vocab)) for t in tokens or [""]), dtype=np.int64))
        return cls.build_from_codes(ids, codes, list(vocab).__getitem__, generation, sources, base)

    @classmethod
    def build_from_codes(cls, ids: list[str], codes: list[np.ndarray], decode: Callable[[int], str],
                         generation: int, sources: Sources | None = None,
                         base: "BM25Index | None" = None) -> "BM25Index":
        """The index `build` makes from the decoded tokens, built from integer token codes with numpy: the same
        vocabulary and the same float32 scores (bm25s's own build is a Python loop over every token, a third of
        ingesting a large archive). Rows with no token hold the empty token, as in `build`.

        With a `base`, the rows are scored with the base's rarity statistics (its idf of each token it knows, its
        mean row length), so that they rank beside its rows as if they had been built into it."""
        import bm25s
        from bm25s.scoring import _score_idf_lucene

        retriever = bm25s.BM25()
        if not ids:
            return cls(retriever, [], generation, sources=sources)
        assert retriever.method == "lucene" and retriever.idf_method == "lucene"  # the formulas below
        empty = -1  # the empty token's code: no decoded token has it
        codes = [c if len(c) else np.array([empty], dtype=np.int64) for c in codes]
        lengths = np.array([len(c) for c in codes])
        rows = np.repeat(np.arange(len(codes), dtype=np.int64), lengths)
        vocab_codes, token_ids = np.unique(np.concatenate(codes), return_inverse=True)
        # (token, row) pairs with their counts, in column-major order (as bm25s stores its matrix)
        pairs, tf = np.unique(token_ids.astype(np.int64) << 32 | rows, return_counts=True)
        tok, row = pairs >> 32, pairs & 0xFFFFFFFF
        n_docs, n_vocab = len(codes), len(vocab_codes)
        df = np.bincount(tok, minlength=n_vocab)
        tokens = [("" if code == empty else decode(code)) for code in vocab_codes.tolist()]
        # bm25s's idf: the same float64 math (math.log), then float32. Rows laid over a base are weighed by the
        # base's idf of the question's tokens when asked (DeltaBM25): looking every token up in the base's
        # vocabulary now would cost more than building them.
        if base is None:
            idf = np.array([_score_idf_lucene(d, N=n_docs) for d in df.tolist()],
                           dtype=np.float64).astype(retriever.dtype)
        # bm25s's tfc with the same operations in the same order: tf / (k1 * ((1 - b) + b * l_d / l_avg) + tf)
        k1, b = retriever.k1, retriever.b
        avg_len = base.avg_len if base is not None and base.avg_len else lengths.mean()
        tf32 = tf.astype(retriever.dtype)
        tfc = tf32 / (k1 * ((1 - b) + b * lengths[row] / avg_len) + tf32)
        indptr = np.zeros(n_vocab + 1, dtype=np.int64)
        np.cumsum(df, out=indptr[1:])
        # (a delta keeps its frequencies unrounded: idf times them is rounded once when asked, as the base's was)
        data = tfc if base is not None else (idf[tok] * tfc).astype(retriever.dtype)
        retriever.scores = {"data": data, "indices": row.astype(retriever.int_dtype), "indptr": indptr,
                            "num_docs": n_docs}
        vocab = {t: j for j, t in enumerate(tokens)}
        vocab.setdefault("", n_vocab)  # as bm25s's index(): the empty token is always in the vocabulary
        retriever.vocab_dict = vocab
        retriever.unique_token_ids_set = set(vocab.values())
        retriever.nonoccurrence_array = None  # lucene has none
        if base is not None:
            return DeltaBM25(retriever, list(ids), generation, float(avg_len), sources, base)
        return cls(retriever, list(ids), generation, avg_len=float(avg_len), sources=sources)

    def sources(self) -> Sources | None:
        """The documents this index was built from (read from its saved folder the first time it is asked);
        None for an index saved before they were kept."""
        if self._sources is None and self._folder is not None and (self._folder / SOURCES_FILE).exists():
            data = json.loads((self._folder / SOURCES_FILE).read_text(encoding="utf-8"))
            docs = list(data["hashes"])
            self._sources = Sources(data["hashes"], [docs[i] for i in data["rows"]])
        return self._sources

    def is_saved_at(self, path: Path) -> bool:
        """Whether `path` (a link to the saved version) still points at this index's folder: then loading it again
        would read what this process already holds."""
        try:
            return self._folder is not None and path.resolve(strict=True) == self._folder
        except OSError:
            return False

    def document_frequencies(self, tokens: list[str]) -> list[int]:
        """How many rows hold each token (0 for a token the index does not know)."""
        vocab = getattr(self.retriever, "vocab_dict", None) or {}
        indptr = self.retriever.scores["indptr"] if self.ids else None
        out = []
        for t in tokens:
            j = vocab.get(t)
            out.append(0 if j is None or indptr is None else int(indptr[j + 1] - indptr[j]))
        return out

    def save(self, path: Path) -> None:
        """Write a new folder beside `path`, then point `path` (a symbolic link) at it in one atomic step.

        A saved folder is never changed again, so a reader that resolved the link reads one whole index even
        while a writer saves the next; the folders before the previous one are removed."""
        path.parent.mkdir(parents=True, exist_ok=True)
        new = Path(tempfile.mkdtemp(prefix=f".{path.name}-{self.generation}-", dir=path.parent))
        try:
            if self.ids:
                vocab = self.retriever.vocab_dict
                self.retriever.vocab_dict = {}  # bm25s writes its JSON copy of an empty vocabulary; ours follows
                try:
                    self.retriever.save(str(new / "bm25s"))
                finally:
                    self.retriever.vocab_dict = vocab
                SortedTable.write(new / "bm25s" / VOCAB_FILE, vocab)
            (new / "ids.json").write_text(json.dumps(
                {"generation": self.generation, "ids": self.ids, "avg_len": self.avg_len}, ensure_ascii=False),
                encoding="utf-8")
            sources = self.sources()
            if sources is not None:
                docs = {d: i for i, d in enumerate(sources.hashes)}
                (new / SOURCES_FILE).write_text(json.dumps(
                    {"hashes": sources.hashes, "rows": [docs[d] for d in sources.row_docs]}, ensure_ascii=False),
                    encoding="utf-8")
            if path.exists() and not path.is_symlink():  # an index written before links: keep it aside until swapped
                os.replace(path, Path(tempfile.mkdtemp(prefix=f".{path.name}-old-", dir=path.parent)) / "x")
            link = path.with_name(f".{path.name}-link-{os.getpid()}-{threading.get_ident()}")
            link.unlink(missing_ok=True)
            os.symlink(new.name, link)
            os.replace(link, path)
        except BaseException:
            shutil.rmtree(new, ignore_errors=True)
            raise
        self._folder = new.resolve()
        self._prune(path, keep={new.name})

    @staticmethod
    def _prune(path: Path, keep: set[str]) -> None:
        """Remove saved folders but the current one and the newest other (a reader may still be loading it)."""
        folders = sorted(path.parent.glob(f".{path.name}-*"), key=lambda p: p.stat().st_mtime if p.exists() else 0)
        folders = [f for f in folders if f.name not in keep and not f.is_symlink()]
        for old in folders[:-1]:
            shutil.rmtree(old, ignore_errors=True)

    @classmethod
    def load(cls, path: Path) -> "BM25Index | None":
        path = path.resolve()  # one saved folder, whatever the link points at next
        meta = path / "ids.json"
        if not meta.exists():
            return None
        import bm25s

        data = json.loads(meta.read_text(encoding="utf-8"))
        # Memory-mapped: a process reads the pages its questions touch (the saved folder never changes; a newer save
        # goes to a new folder), so opening is faster and several processes share the page cache.
        retriever = bm25s.BM25()
        if data["ids"]:
            table = path / "bm25s" / VOCAB_FILE
            retriever = bm25s.BM25.load(str(path / "bm25s"), mmap=True, load_vocab=not table.exists())
            if table.exists():  # else an index saved before the table, with the whole vocabulary in bm25s's JSON
                retriever.vocab_dict = SortedTable.open(table)
        return cls(retriever, data["ids"], int(data["generation"]), avg_len=data.get("avg_len"), folder=path)

    def _scores(self, tokens: list[str]) -> np.ndarray:
        """Every row's score for the query tokens, in row order."""
        return self.retriever.get_scores(tokens)

    def scores_for(self, tokens: list[str], ids: list[str]) -> dict[str, float]:
        """The BM25 scores of these rows (ids not in the index are left out)."""
        if not self.ids or not tokens:
            return {}
        scores = self._scores(tokens)
        return {cid: float(scores[self._positions[cid]]) for cid in ids if cid in self._positions}

    def idf(self, tokens: list[str]) -> dict[str, float]:
        """Each token's inverse document frequency over the rows, as BM25 weighs it (unknown tokens weigh most)."""
        n = len(self.ids)
        unique = list(dict.fromkeys(tokens))  # in the query's order, so sums over them do not vary from run to run
        return {t: math.log((n - df + 0.5) / (df + 0.5) + 1.0)
                for t, df in zip(unique, self.document_frequencies(unique))}

    def rank(self, tokens: list[str], k: int, include: list[str]) -> list[str]:
        """The top k rows and any of `include` that match at all, best first, from one scoring pass."""
        if not self.ids or not tokens:
            return []
        scores = self._scores(tokens)
        k = min(k, len(self.ids))
        rows = set(np.argpartition(-scores, k - 1)[:k].tolist())
        rows.update(self._positions[cid] for cid in include if cid in self._positions)
        return [self.ids[i] for i in sorted(rows, key=lambda i: -scores[i]) if scores[i] > 0]

    def search(self, tokens: list[str], k: int) -> list[tuple[str, float]]:
        if not self.ids or not tokens:
            return []
        scores = self._scores(tokens)
        k = min(k, len(self.ids))
        top = np.argpartition(-scores, k - 1)[:k]
        top = top[np.argsort(-scores[top])]
        return [(self.ids[i], float(scores[i])) for i in top if scores[i] > 0]


class DeltaBM25(BM25Index):
    """Rows built to be laid over a base index: their matrix holds each token's length-normalized frequency, and a
    question's tokens are weighed when asked by the base's idf (or, for a token only these rows hold, by their own
    count among the base's rows and theirs), so that they score as if they had been built into the base."""

    def __init__(self, retriever, ids: list[str], generation: int, avg_len: float, sources: Sources | None,
                 base: BM25Index):
        super().__init__(retriever, ids, generation, avg_len=avg_len, sources=sources)
        self.base = base

    def _idf(self, tokens: list[str]) -> dict[str, np.float32]:
        from bm25s.scoring import _score_idf_lucene

        n_base = len(self.base.ids)
        out = {}
        for t, known, own in zip(tokens, self.base.document_frequencies(tokens), self.document_frequencies(tokens)):
            df, n = (known, n_base) if known else (own, n_base + len(self.ids))
            out[t] = np.float32(_score_idf_lucene(df, N=n))
        return out

    def _scores(self, tokens: list[str]) -> np.ndarray:
        scores = np.zeros(len(self.ids), dtype=np.float32)
        vocab, matrix = self.retriever.vocab_dict, self.retriever.scores
        present = [t for t in tokens if t in vocab]
        idf = self._idf(list(dict.fromkeys(present)))
        for t in present:  # in the query's order and with its repeats, as bm25s sums them
            j = vocab[t]
            start, end = matrix["indptr"][j], matrix["indptr"][j + 1]
            np.add.at(scores, matrix["indices"][start:end], (idf[t] * matrix["data"][start:end]).astype(np.float32))
        return scores


class LayeredBM25(BM25Index):
    """A saved BM25 (the base) with the documents changed since it was built laid over it: the base's rows of those
    documents score nothing, and their current rows (the delta) are scored with the base's rarity statistics.

    What a small ingest or a deletion costs is then reading its own documents, not rebuilding the archive's index.
    The statistics drift from a rebuild's by what the delta adds to each token's document frequency and to the
    mean length; the index is rebuilt (merged) once the delta outgrows BM25_DELTA_SHARE of the base."""

    def __init__(self, base: BM25Index, delta: BM25Index, masked: list[int], generation: int):
        super().__init__(base.retriever, base.ids + delta.ids, generation, avg_len=base.avg_len)
        self.base, self.delta = base, delta
        self._keep = np.ones(len(base.ids), dtype=np.float32)
        self._keep[masked] = 0.0
        for i in masked:  # a row id in both (a passage kept through its document's replacement) is the delta's
            if self._positions.get(base.ids[i]) == i:
                del self._positions[base.ids[i]]

    def _scores(self, tokens: list[str]) -> np.ndarray:
        base = self.base._scores(tokens) * self._keep if self.base.ids else np.zeros(0, dtype=np.float32)
        delta = self.delta._scores(tokens) if self.delta.ids else np.zeros(0, dtype=np.float32)
        return np.concatenate([base, delta])

    def document_frequencies(self, tokens: list[str]) -> list[int]:
        # the base's counts, and the delta's for a token the base does not know (as the delta's scores take them)
        return [b or d for b, d in zip(self.base.document_frequencies(tokens), self.delta.document_frequencies(tokens))]

    def sources(self) -> Sources | None:
        return None  # a layered index is never saved: its base is, and the catalog says what changed since

    @property
    def delta_share(self) -> float:
        """The delta's rows and the base's masked rows, as a share of the base's rows."""
        return (len(self.delta.ids) + int(len(self._keep) - self._keep.sum())) / max(len(self.base.ids), 1)
