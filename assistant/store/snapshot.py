"""The index as one question reads it: one generation's pair of BM25 indexes, held for the whole turn, and each
passage and article read from the catalog once however often the turn asks for it."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from ..text.tokens import char_bigrams, tokenize
from .records import ArticleText, Fact, Passage

if TYPE_CHECKING:
    from .embedding import Embedder
    from .index import Index


class IndexSnapshot:
    """Taken by Index.snapshot(), inside Index.reading() for a turn: then a writer committing meanwhile changes
    nothing the turn reads (rankings, passages, articles, facts). Outside it, a passage deleted meanwhile is simply
    left out of what is read."""

    def __init__(self, index: "Index"):
        self.index = index
        self.embedder: "Embedder" = index.embedder
        # Taken inside Index.reading(), both are of the generation the turn reads (exact: never an older one a
        # thread still holds while another loads the new).
        exact = index.db.in_transaction
        self._passages = index.lexical("bm25", exact=exact)
        self._articles = index.lexical("articles", exact=exact)
        self.generation = self._passages.generation
        self._rows: dict[str, Passage] = {}
        self._article_texts: dict[tuple[str, int], ArticleText | None] = {}

    # --- rankings --------------------------------------------------------------------------------

    def search_bm25(self, query: str, k: int) -> list[tuple[str, float]]:
        return self._passages.search(tokenize(query), k)

    def bm25_scores(self, tokens: list[str], chunk_ids: list[str]) -> dict[str, float]:
        """The passage BM25 scores of these chunks for a tokenized query."""
        return self._passages.scores_for(tokens, chunk_ids)

    def rank_bm25(self, query: str, k: int, include: list[str]) -> list[str]:
        """Chunk ids by passage BM25: the top k, and any of `include` that match the query at all."""
        return self._passages.rank(tokenize(query), k, include)

    def search_articles(self, query: str, k: int) -> list[tuple[str, float]]:
        """Whole articles by the BM25 of their character bigrams: (article_key, score), best first."""
        return self._articles.search(char_bigrams(query), k)

    def article_idf(self, query: str) -> dict[str, float]:
        """The weight of each of the query's character bigrams among whole articles (rare bigrams weigh most)."""
        return self._articles.idf(char_bigrams(query))

    def search_dense(self, query: str, k: int) -> list[tuple[str, float]]:
        return self.index.search_dense(query, k)

    # --- reading ---------------------------------------------------------------------------------

    def passages(self, chunk_ids: list[str], score: float = 1.0) -> list[Passage]:
        """These chunks as citable passages, in the order given (unknown ids are left out)."""
        missing = [c for c in dict.fromkeys(chunk_ids) if c not in self._rows]
        if missing:
            self._rows.update((p.chunk_id, p) for p in self.index.passages(missing))
        return [replace(self._rows[c], score=score) for c in chunk_ids if c in self._rows]

    def article(self, doc_id: str, article: int) -> ArticleText | None:
        key = (doc_id, article)
        if key not in self._article_texts:
            self._article_texts[key] = self.index.article(doc_id, article)
        return self._article_texts[key]

    def chunk_articles(self, chunk_ids: list[str]) -> dict[str, str]:
        return self.index.chunk_articles(chunk_ids)

    def article_chunks(self, keys: list[str]) -> dict[str, list[str]]:
        return self.index.article_chunks(keys)

    def facts(self, subject: str | None = None, metric: str | None = None, year: int | None = None,
              subject_prefix: str | None = None) -> list[Fact]:
        return self.index.facts(subject=subject, metric=metric, year=year, subject_prefix=subject_prefix)

    def pending_count(self) -> int:
        return self.index.pending_count()
