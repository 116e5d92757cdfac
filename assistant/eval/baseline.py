"""The stock llama-index pipeline (SentenceSplitter + VectorStoreIndex) over our raw documents, as a retrieval baseline."""

from __future__ import annotations

from typing import Any

from llama_index.core import Document, VectorStoreIndex
from llama_index.core.base.embeddings.base import BaseEmbedding
from llama_index.core.node_parser import SentenceSplitter
from pydantic import PrivateAttr

from ..store.embedding import Embedder
from ..ingest.loading import SourceDocument


class EmbedderAdapter(BaseEmbedding):
    """Presents one of our embedders to llama-index, so the baseline ranks with the very same vectors."""

    _embedder: Any = PrivateAttr()

    def __init__(self, embedder: Embedder, **kwargs: Any):
        super().__init__(model_name=embedder.fingerprint, **kwargs)
        self._embedder = embedder

    @classmethod
    def class_name(cls) -> str:
        return "AssistantEmbedderAdapter"

    def _get_query_embedding(self, query: str) -> list[float]:
        return self._embedder.embed_query(query).astype(float).tolist()

    async def _aget_query_embedding(self, query: str) -> list[float]:
        return self._get_query_embedding(query)

    def _get_text_embedding(self, text: str) -> list[float]:
        return self._get_text_embeddings([text])[0]

    async def _aget_text_embedding(self, text: str) -> list[float]:
        return self._get_text_embedding(text)

    def _get_text_embeddings(self, texts: list[str]) -> list[list[float]]:
        return self._embedder.embed_documents(list(texts)).astype(float).tolist()

    async def _aget_text_embeddings(self, texts: list[str]) -> list[list[float]]:
        return self._get_text_embeddings(texts)


def to_llama_document(doc: SourceDocument) -> Document:
    """A llama-index Document holding the raw text; its id is our doc_id so nodes point back to it."""
    metadata = {"doc_id": doc.doc_id, "source": doc.source}
    if doc.title is not None:  # .txt/.md files have no title; a "title: None" line would only add noise
        metadata["title"] = doc.title
    return Document(id_=doc.doc_id, text=doc.text, metadata=metadata)


class BaselineRetriever:
    """Top-k nodes from a stock in-memory VectorStoreIndex, as plain dicts in rank order."""

    def __init__(self, index: VectorStoreIndex, k: int = 5):
        self.index = index
        self.k = k

    @property
    def nodes(self) -> list:
        """Every node the stock splitter produced (for inspecting chunk sizes)."""
        return list(self.index.docstore.docs.values())

    def retrieve(self, question: str, k: int | None = None) -> list[dict]:
        # A VectorIndexRetriever only embeds the query and asks the vector store: no LLM is involved.
        retriever = self.index.as_retriever(similarity_top_k=k or self.k)
        results = []
        for hit in retriever.retrieve(question):
            node = hit.node
            results.append(
                {
                    "doc_id": node.metadata.get("doc_id", node.ref_doc_id),
                    "title": node.metadata.get("title"),
                    "text": node.get_content(),  # the node text alone, without the metadata header
                    "score": float(hit.score) if hit.score is not None else None,
                }
            )
        return results


def llamaindex_baseline(documents: list[SourceDocument], embedder: Embedder, k: int = 5) -> BaselineRetriever:
    """Index `documents` the way llama-index does out of the box, but with our embedder; nothing is downloaded.

    The splitter, the embedding model and the transformations are all passed explicitly, so llama-index's
    global Settings (whose default embed model and LLM are OpenAI) are never resolved.
    """
    index = VectorStoreIndex.from_documents(
        [to_llama_document(d) for d in documents],
        transformations=[SentenceSplitter()],  # stock defaults: 1024 tokens, 200 overlap
        embed_model=EmbedderAdapter(embedder),
        show_progress=False,
    )
    return BaselineRetriever(index, k=k)
