"""BM25 over tokens (bm25s scoring, built with numpy from token codes), saved atomically and stamped with the catalog generation it reflects."""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
import threading
from pathlib import Path
from typing import Callable, Iterable

import numpy as np

from assistant.text.table import SortedTable

VOCAB_FILE = "vocab.table"  # the vocabulary as a SortedTable: opened in no time, where bm25s's JSON took 0.2 s

class BM25Index:
    """A bm25s index whose rows are chunk ids."""

    def __init__(self, retriever, ids: list[str], generation: int):
        self.retriever = retriever
        self.ids = ids
        self.generation = generation
        self._positions = {cid: i for i, cid in enumerate(ids)}  # row of each id, for scores_for

    @classmethod
    def build(cls, rows: Iterable[tuple[str, list[str]]], generation: int) -> "BM25Index":
        """The BM25 of (id, tokens) rows (a row with none holds the empty token). Rows are read one at a time and
        only their token codes kept: at 100k passages the token strings themselves would take a gigabyte."""
        vocab: dict[str, int] = {}
        ids, codes = [], []
        for row_id, tokens in rows:
            ids.append(row_id)
            codes.append(np.fromiter((vocab.setdefault(t, len(vocab)) for t in tokens or [""]), dtype=np.int64))
        return cls.build_from_codes(ids, codes, list(vocab).__getitem__, generation)

    @classmethod
    def build_from_codes(cls, ids: list[str], codes: list[np.ndarray], decode: Callable[[int], str],
                         generation: int) -> "BM25Index":
        """The index `build` makes from the decoded tokens, built from integer token codes with numpy: the same
        vocabulary and the same float32 scores (bm25s's own build is a Python loop over every token, a third of
        ingesting a large archive). Rows with no token hold the empty token, as in `build`."""
        import bm25s
        from bm25s.scoring import _score_idf_lucene

        retriever = bm25s.BM25()
        if not ids:
            return cls(retriever, [], generation)
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
        # bm25s's idf: the same float64 math (math.log), then float32
        idf = np.array([_score_idf_lucene(d, N=n_docs) for d in df.tolist()], dtype=np.float64).astype(retriever.dtype)
        # bm25s's tfc with the same operations in the same order: tf / (k1 * ((1 - b) + b * l_d / l_avg) + tf)
        k1, b, avg_len = retriever.k1, retriever.b, lengths.mean()
        tf32 = tf.astype(retriever.dtype)
        tfc = tf32 / (k1 * ((1 - b) + b * lengths[row] / avg_len) + tf32)
        indptr = np.zeros(n_vocab + 1, dtype=np.int64)
        np.cumsum(df, out=indptr[1:])
        retriever.scores = {"data": (idf[tok] * tfc).astype(retriever.dtype), "indices": row.astype(retriever.int_dtype),
                            "indptr": indptr, "num_docs": n_docs}
        vocab = {("" if code == empty else decode(code)): j for j, code in enumerate(vocab_codes.tolist())}
        vocab.setdefault("", n_vocab)  # as bm25s's index(): the empty token is always in the vocabulary
        retriever.vocab_dict = vocab
        retriever.unique_token_ids_set = set(vocab.values())
        retriever.nonoccurrence_array = None  # lucene has none
        return cls(retriever, list(ids), generation)

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
            (new / "ids.json").write_text(
                json.dumps({"generation": self.generation, "ids": self.ids}, ensure_ascii=False), encoding="utf-8"
            )
            if path.exists() and not path.is_symlink():  # an index written before links: keep it aside until swapped
                os.replace(path, Path(tempfile.mkdtemp(prefix=f".{path.name}-old-", dir=path.parent)) / "x")
            link = path.with_name(f".{path.name}-link-{os.getpid()}-{threading.get_ident()}")
            link.unlink(missing_ok=True)
            os.symlink(new.name, link)
            os.replace(link, path)
        except BaseException:
            shutil.rmtree(new, ignore_errors=True)
            raise
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
        return cls(retriever, data["ids"], int(data["generation"]))

    def scores_for(self, tokens: list[str], ids: list[str]) -> dict[str, float]:
        """The BM25 scores of these rows (ids not in the index are left out)."""
        if not self.ids or not tokens:
            return {}
        scores = self.retriever.get_scores(tokens)
        return {cid: float(scores[self._positions[cid]]) for cid in ids if cid in self._positions}

    def idf(self, tokens: list[str]) -> dict[str, float]:
        """Each token's inverse document frequency over the rows, as BM25 weighs it (unknown tokens weigh most)."""
        n = len(self.ids)
        vocab = getattr(self.retriever, "vocab_dict", None) or {}
        indptr = self.retriever.scores["indptr"] if n else None
        out = {}
        for t in dict.fromkeys(tokens):  # in the query's order, so sums over them do not vary from run to run
            j = vocab.get(t)
            df = 0 if j is None or indptr is None else int(indptr[j + 1] - indptr[j])
            out[t] = math.log((n - df + 0.5) / (df + 0.5) + 1.0)
        return out

    def rank(self, tokens: list[str], k: int, include: list[str]) -> list[str]:
        """The top k rows and any of `include` that match at all, best first, from one scoring pass."""
        if not self.ids or not tokens:
            return []
        scores = self.retriever.get_scores(tokens)
        k = min(k, len(self.ids))
        rows = set(np.argpartition(-scores, k - 1)[:k].tolist())
        rows.update(self._positions[cid] for cid in include if cid in self._positions)
        return [self.ids[i] for i in sorted(rows, key=lambda i: -scores[i]) if scores[i] > 0]

    def search(self, tokens: list[str], k: int) -> list[tuple[str, float]]:
        if not self.ids or not tokens:
            return []
        scores = self.retriever.get_scores(tokens)
        k = min(k, len(self.ids))
        top = np.argpartition(-scores, k - 1)[:k]
        top = top[np.argsort(-scores[top])]
        return [(self.ids[i], float(scores[i])) for i in top if scores[i] > 0]
