"""Ranked passages for a question: BM25 and dense rankings fused by reciprocal rank."""

from __future__ import annotations

from dataclasses import replace
from typing import Literal

from ..store.index import Index
from ..store.records import Passage
from ..text.zh import fold_width

__all__ = ["Mode", "Passage", "Retriever", "reciprocal_rank_fusion"]

Mode = Literal["hybrid", "bm25", "dense"]


def reciprocal_rank_fusion(rankings: list[list[str]], k: int = 60, weights: list[float] | None = None) -> dict[str, float]:
    """score(id) = sum over rankings of weight / (k + rank)."""
    weights = weights or [1.0] * len(rankings)
    fused: dict[str, float] = {}
    for ranking, weight in zip(rankings, weights):
        for rank, cid in enumerate(ranking, start=1):
            fused[cid] = fused.get(cid, 0.0) + weight / (k + rank)
    return fused


class Retriever:
    def __init__(self, index: Index, candidates: int = 40, rrf_k: int = 60, dense_weight: float = 1.0):
        self.index = index
        self.candidates = candidates
        self.rrf_k = rrf_k
        self.dense_weight = dense_weight

    def ranked_ids(self, question: str, k: int, mode: Mode = "hybrid") -> list[tuple[str, float]]:
        question = fold_width(question)
        n = max(k, self.candidates)
        if mode == "bm25":
            return self.index.search_bm25(question, k)
        if mode == "dense":
            return self.index.search_dense(question, k)
        lexical = [cid for cid, _ in self.index.search_bm25(question, n)]
        dense = [cid for cid, _ in self.index.search_dense(question, n)]
        fused = reciprocal_rank_fusion([lexical, dense], self.rrf_k, [1.0, self.dense_weight])
        return sorted(fused.items(), key=lambda kv: -kv[1])[:k]

    def retrieve(self, question: str, k: int = 5, mode: Mode = "hybrid") -> list[Passage]:
        ranked = self.ranked_ids(question, k, mode)
        stored = {p.chunk_id: p for p in self.index.passages([cid for cid, _ in ranked])}
        # A vector whose chunk is gone (reconcile removes these) is left out.
        return [replace(stored[cid], score=score) for cid, score in ranked if cid in stored]
