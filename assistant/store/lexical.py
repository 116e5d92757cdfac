"""BM25 over jieba tokens (bm25s), saved atomically and stamped with the catalog generation it reflects."""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
import threading
from pathlib import Path

import numpy as np


class BM25Index:
    """A bm25s index whose rows are chunk ids."""

    def __init__(self, retriever, ids: list[str], generation: int):
        self.retriever = retriever
        self.ids = ids
        self.generation = generation
        self._positions = {cid: i for i, cid in enumerate(ids)}  # row of each id, for scores_for

    @classmethod
    def build(cls, ids: list[str], token_lists: list[list[str]], generation: int) -> "BM25Index":
        import bm25s
        import tqdm

        # bm25s's progress bars (hidden) would start tqdm's monitor thread, and ingestion forks its worker processes
        # only while this process has no thread but its main one.
        tqdm.tqdm.monitor_interval = 0
        retriever = bm25s.BM25()
        if ids:
            retriever.index([toks or [""] for toks in token_lists], show_progress=False)
        return cls(retriever, list(ids), generation)

    def save(self, path: Path) -> None:
        """Write a new folder beside `path`, then point `path` (a symbolic link) at it in one atomic step.

        A saved folder is never changed again, so a reader that resolved the link reads one whole index even
        while a writer saves the next; the folders before the previous one are removed."""
        path.parent.mkdir(parents=True, exist_ok=True)
        new = Path(tempfile.mkdtemp(prefix=f".{path.name}-{self.generation}-", dir=path.parent))
        try:
            if self.ids:
                self.retriever.save(str(new / "bm25s"))
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
        retriever = bm25s.BM25.load(str(path / "bm25s"), mmap=True) if data["ids"] else bm25s.BM25()
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
        for t in set(tokens):
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
