"""BM25 over jieba tokens (bm25s), saved atomically and stamped with the catalog generation it reflects."""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
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

        retriever = bm25s.BM25()
        if ids:
            retriever.index([toks or [""] for toks in token_lists], show_progress=False)
        return cls(retriever, list(ids), generation)

    def save(self, path: Path) -> None:
        """Write to a temporary folder beside `path`, then swap it in."""
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".bm25-", dir=path.parent))
        try:
            if self.ids:
                self.retriever.save(str(tmp / "bm25s"))
            (tmp / "ids.json").write_text(
                json.dumps({"generation": self.generation, "ids": self.ids}, ensure_ascii=False), encoding="utf-8"
            )
            old = path.with_name(path.name + ".old")
            if path.exists():
                os.replace(path, old)
            os.replace(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    @classmethod
    def load(cls, path: Path) -> "BM25Index | None":
        meta = path / "ids.json"
        if not meta.exists():
            return None
        import bm25s

        data = json.loads(meta.read_text(encoding="utf-8"))
        retriever = bm25s.BM25.load(str(path / "bm25s")) if data["ids"] else bm25s.BM25()
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
