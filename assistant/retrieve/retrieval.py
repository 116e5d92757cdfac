"""Ranked passages for a question: whole articles ranked by what they know, passages by BM25 and dense vectors,
fused by reciprocal rank, one passage per article before any article gives a second."""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Literal

from ..store.snapshot import IndexSnapshot
from ..store.records import Passage
from ..text.chars import cjk_count, fold_width, latin_word_count
from ..text.script import to_simplified
from ..text.tokens import tokenize

__all__ = ["Mode", "Passage", "Retriever", "reciprocal_rank_fusion"]

# hybrid: the default (articles and passages); the rest are its single signals, for comparison: "passages"
# (passage BM25 and dense fused, no articles), "bm25", "dense", "articles" (whole articles, each by its best
# BM25 passage).
Mode = Literal["hybrid", "passages", "bm25", "dense", "articles"]

# Articles ranked as wholes (bigram BM25) whose passages become candidates. A question names an event, a person
# or a place that its article may state once, far from the passage holding the answer: the article's rank
# carries that to every passage of it.
ARTICLE_CANDIDATES = 50
# Weight of the best article against a passage's own top rank: a passage's score is 1/(rrf_k + its fused rank)
# plus ARTICLE_WEIGHT/(rrf_k + 1) times its article's BM25 score relative to the best article's. On a news archive
# the whole article is the better judge (crud_news_dev hit@1: passages alone 0.71, with their articles 0.86);
# weights 2 and 4 did no better on crud_news_dev and CMRC.
ARTICLE_WEIGHT = 1.0
# A further passage of an article already listed keeps this share of its article's part. Where one article
# stands far above the rest (a question about one story), its further passages come before weak articles'
# best ones; where several articles score alike, the top k spread over them. 0.0 (strictly one passage per
# article first) lost the answer passage on the two-page seeds (hit@5 1.00 -> 0.96).
REPEAT_ARTICLE_SHARE = 0.5
# The answer usually sits in one sentence that states most of the question: a passage also scores the share of the
# question's character bigrams (weighted by their rarity among articles) that its best sentence holds, in units of
# the top rank's score 1/(rrf_k + 1). Only the best PROXIMITY_POOL passages are read for it. crud_news_dev hit@1
# 0.857 -> 0.865, hit@5 0.968 -> 0.974, CMRC hit@1 0.979 -> 0.980, seeds and adversarial equal; at weight 1.2 crud
# fell back to 0.857.
SENTENCE_WEIGHT = 0.6
PROXIMITY_POOL = 20
# The passages that compete for the top k once scored with their articles: this many per passage asked for, and never
# fewer than POOL_MIN (room for a strong article's further passages and for the sentence signal to reorder).
POOL_PER_RESULT = 4
POOL_MIN = 50


_SENTENCE = re.compile(r"[^。！？；!?;…\n]+")  # sentences and the title, for the sentence signal

MIN_CJK_FOR_LEXICAL = 2  # a question with fewer Chinese characters than this is ranked by a semantic embedding alone
# A question with this many words in Latin letters is in another language, whatever Chinese names it carries: its
# ranking fuses the multilingual embedding's. (A Chinese question's Latin words are names and units: PM2.5, GDP.)
MIN_LATIN_WORDS_FOR_DENSE = 3
# A Chinese question is ranked lexically, and its passages' e5 ranking fused in only when no sentence of the best
# passages holds this share of the question's (rarity-weighted) bigrams: few shared words, as in a paraphrase. Only
# then is the question embedded (20-30 ms on this machine). On the DRCD test split of reading_train (600 questions)
# hit@1 grows with the threshold: lexical alone 0.918, 0.2 0.920 (13% of questions embedded), 0.3 0.923 (40%), 0.5
# 0.927 (79%, as good as fusing every question). But embedding a quarter of the seeds' questions (0.3) takes their
# warm p95 from 15 to 45 ms, over the 30 ms goal; 0.2 keeps it at 23 ms. docs/evaluation.md ("Retrieval") has the other sets.
DENSE_BELOW_COVER = 0.2


def reciprocal_rank_fusion(rankings: list[list[str]], k: int = 60, weights: list[float] | None = None) -> dict[str, float]:
    """score(id) = sum over rankings of weight / (k + rank)."""
    weights = weights or [1.0] * len(rankings)
    fused: dict[str, float] = {}
    for ranking, weight in zip(rankings, weights):
        for rank, cid in enumerate(ranking, start=1):
            fused[cid] = fused.get(cid, 0.0) + weight / (k + rank)
    return fused


class Retriever:
    def __init__(self, snapshot: IndexSnapshot, candidates: int = 40, rrf_k: int = 60, dense_weight: float = 1.0,
                 article_weight: float = ARTICLE_WEIGHT, repeat_share: float = REPEAT_ARTICLE_SHARE,
                 article_candidates: int = ARTICLE_CANDIDATES, sentence_weight: float = SENTENCE_WEIGHT):
        self.snapshot = snapshot  # one turn's view of the index
        self.candidates = candidates
        self.rrf_k = rrf_k
        self.dense_weight = dense_weight
        self.article_weight = article_weight
        self.repeat_share = repeat_share
        self.article_candidates = article_candidates
        self.sentence_weight = sentence_weight

    def ranked_ids(self, question: str, k: int, mode: Mode = "hybrid") -> list[tuple[str, float]]:
        question = fold_width(question)
        n = max(k, self.candidates)
        if mode == "bm25":
            return self.snapshot.search_bm25(question, k)
        if mode == "dense":
            return self.snapshot.search_dense(question, k)
        if mode == "articles":
            return self._best_passages(question, self.snapshot.search_articles(question, k))
        semantic = self.dense_weight > 0 and self.snapshot.embedder.semantic
        if mode == "hybrid" and semantic and cjk_count(question) < MIN_CJK_FOR_LEXICAL:
            # A question in another language ("How much were the fines in Qinshui County?") shares no words with
            # Chinese passages: the lexical rankings are noise, a multilingual embedding is the only judge.
            return self.snapshot.search_dense(question, k)
        # A question in another language that carries Chinese names ("fines in Qinshui County 沁水县") fuses both
        # rankings; a Chinese question is embedded only when its words are found too thinly (DENSE_BELOW_COVER).
        foreign = latin_word_count(question) >= MIN_LATIN_WORDS_FOR_DENSE
        dense = self._dense(question, n) if semantic and (mode == "passages" or foreign) else None
        articles = self.snapshot.search_articles(question, self.article_candidates) if mode == "hybrid" else []
        if not articles or not self.article_weight:
            if dense is None and semantic and mode == "hybrid":  # no article holds the question's words
                dense = self._dense(question, n)
            lexical = [cid for cid, _ in self.snapshot.search_bm25(question, n)]
            fused = reciprocal_rank_fusion([lexical, dense or []], self.rrf_k, [1.0, self.dense_weight])
            return sorted(fused.items(), key=lambda kv: -kv[1])[:k]
        chosen, cover = self._by_article(question, k, n, dense or [], articles)
        if dense is None and semantic and cover < DENSE_BELOW_COVER:
            chosen, _ = self._by_article(question, k, n, self._dense(question, n), articles)
        return chosen

    def _dense(self, question: str, n: int) -> list[str]:
        return [cid for cid, _ in self.snapshot.search_dense(question, n)]

    def _by_article(self, question: str, k: int, n: int, dense: list[str],
                    articles: list[tuple[str, float]]) -> tuple[list[tuple[str, float]], float]:
        """Passages of the best articles and the best passages, each scored by its own rank and its article's; and
        the largest share of the question's bigrams that one sentence of them holds (0 when not measured)."""
        chunks_of = self.snapshot.article_chunks([key for key, _ in articles])
        # The passage's own lexical rank, from one BM25 pass: the top n, and the passages of the top articles and
        # the dense ranking that are outside it; fused with its dense rank.
        lexical = self.snapshot.rank_bm25(question, n, [*dense, *(c for ids in chunks_of.values() for c in ids)])
        own = reciprocal_rank_fusion([lexical, dense], self.rrf_k, [1.0, self.dense_weight])
        own_rank = {c: r for r, c in enumerate(sorted(own, key=lambda c: -own[c]), start=1)}
        article_of = {c: key for key, ids in chunks_of.items() for c in ids}
        article_of.update(self.snapshot.chunk_articles([c for c in own_rank if c not in article_of]))
        # An article's part is its score relative to the best article's: where one article stands far above the
        # rest, the others lift their passages little, and the leader's further passages can come next.
        top = articles[0][1] or 1.0
        article_share = {key: score / top for key, score in articles}

        def article_part(c: str) -> float:
            return self.article_weight / (self.rrf_k + 1) * article_share.get(article_of.get(c, ""), 0.0)

        base = {c: 1.0 / (self.rrf_k + r) for c, r in own_rank.items()}
        pool = sorted(base, key=lambda c: -(base[c] + article_part(c)))[: max(POOL_PER_RESULT * k, POOL_MIN)]
        cover = self._sentence_cover(question, pool[:PROXIMITY_POOL])
        if self.sentence_weight:
            for c, share in cover.items():
                base[c] += self.sentence_weight / (self.rrf_k + 1) * share
        chosen: list[tuple[str, float]] = []
        used: set[str] = set()
        while pool and len(chosen) < k:
            def score(c: str) -> float:
                share = self.repeat_share if article_of.get(c) in used else 1.0
                return base[c] + share * article_part(c)

            best = max(pool, key=score)
            chosen.append((best, score(best)))
            used.add(article_of.get(best, best))
            pool.remove(best)
        return chosen, max(cover.values(), default=0.0)

    def _sentence_cover(self, question: str, chunk_ids: list[str]) -> dict[str, float]:
        """For each passage, the weighted share of the question's bigrams that its best sentence (or title) holds.
        A bigram is two adjacent characters, so it is in a sentence exactly when the folded sentence contains it."""
        weights = self.snapshot.article_idf(question)
        total = sum(weights.values())
        if not total:
            return {}
        out = {}
        for p in self.snapshot.passages(chunk_ids):
            folded = fold_width(to_simplified(p.title + "\n" + p.text)).lower()
            out[p.chunk_id] = max(
                sum(w for g, w in weights.items() if g in sentence) for sentence in _SENTENCE.findall(folded)
            ) / total if folded.strip() else 0.0
        return out

    def _best_passages(self, question: str, articles: list[tuple[str, float]]) -> list[tuple[str, float]]:
        """Each article's passage with the highest BM25, scored by its article."""
        chunks_of = self.snapshot.article_chunks([key for key, _ in articles])
        bm25 = self.snapshot.bm25_scores(tokenize(question), [c for ids in chunks_of.values() for c in ids])
        out = []
        for key, score in articles:
            ids = chunks_of.get(key, [])
            if ids:
                out.append((max(ids, key=lambda c: bm25.get(c, 0.0)), score))
        return out

    def retrieve(self, question: str, k: int = 5, mode: Mode = "hybrid") -> list[Passage]:
        ranked = self.ranked_ids(question, k, mode)
        stored = {p.chunk_id: p for p in self.snapshot.passages([cid for cid, _ in ranked])}
        # A vector whose chunk is gone (reconcile removes these) is left out.
        return [replace(stored[cid], score=score) for cid, score in ranked if cid in stored]
