"""The vector store seam: one small interface, a Chroma implementation chosen by settings."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
import re
import threading
import time
from typing import Callable, Protocol

import numpy as np

from ..settings import Settings

CHROMA_BATCH = 4000  # vectors a write sends at once: below Chroma's max batch size


class VectorStore(Protocol):
    """Chunk vectors keyed by chunk id; scores are cosine similarities (higher is closer)."""

    def upsert(self, ids: list[str], vectors: np.ndarray, metadatas: list[dict], documents: list[str] | None = None) -> None: ...

    def delete(self, ids: list[str]) -> None: ...

    def ids(self) -> set[str]: ...

    def count(self) -> int: ...

    def forget_count(self) -> None: ...

    def query(self, vector: np.ndarray, k: int) -> list[tuple[str, float]]: ...

    def drop_collections(self, prefix: str) -> list[str]: ...

    def close(self) -> None: ...


class ChromaVectorStore:
    """A Chroma collection holding vectors we compute ourselves (Chroma's own embedding function is never used)."""

    def __init__(self, client, collection_name: str):
        self.client = client
        # embedding_function=None: Chroma must never download its default ONNX model.
        # (Wider HNSW search, ef 200 / M 32, gained nothing on CMRC and slowed ingestion by half.)
        self.collection = client.get_or_create_collection(
            name=collection_name, embedding_function=None, configuration={"hnsw": {"space": "cosine"}}
        )
        # Counting costs as much as a query (~5 ms at 38k vectors): remembered until this store writes, or
        # until forget_count() (the index calls it when another process has changed the catalog).
        self._count: int | None = None

    def forget_count(self) -> None:
        self._count = None

    def close(self) -> None:
        pass

    def upsert(self, ids: list[str], vectors: np.ndarray, metadatas: list[dict], documents: list[str] | None = None) -> None:
        """`documents`: the passages' texts, kept beside their vectors (server mode: the server holds them all)."""
        self._count = None
        for i in range(0, len(ids), CHROMA_BATCH):
            self.collection.upsert(
                ids=ids[i : i + CHROMA_BATCH],
                embeddings=vectors[i : i + CHROMA_BATCH].tolist(),
                metadatas=metadatas[i : i + CHROMA_BATCH],
                **({"documents": documents[i : i + CHROMA_BATCH]} if documents is not None else {}),
            )

    def delete(self, ids: list[str]) -> None:
        self._count = None
        for i in range(0, len(ids), CHROMA_BATCH):
            self.collection.delete(ids=ids[i : i + CHROMA_BATCH])

    def ids(self) -> set[str]:
        out: set[str] = set()
        offset = 0
        while True:
            got = self.collection.get(include=[], limit=5000, offset=offset)["ids"]
            out.update(got)
            if len(got) < 5000:
                return out
            offset += len(got)

    def count(self) -> int:
        return self.collection.count()

    def drop_collections(self, prefix: str) -> list[str]:
        """Delete the client's other collections whose names start with `prefix`; their names."""
        names = [c.name for c in self.client.list_collections()
                 if c.name.startswith(prefix) and c.name != self.collection.name]
        for name in names:
            self.client.delete_collection(name)
        return names

    def query(self, vector: np.ndarray, k: int) -> list[tuple[str, float]]:
        if self._count is None:
            self._count = self.count()
        n = self._count
        if n == 0:
            return []
        res = self.collection.query(query_embeddings=[vector.tolist()], n_results=min(k, n), include=["distances"])
        return [(cid, 1.0 - float(dist)) for cid, dist in zip(res["ids"][0], res["distances"][0])]


def _local_client(path: Path):
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    path.mkdir(parents=True, exist_ok=True)
    return chromadb.PersistentClient(path=str(path), settings=ChromaSettings(anonymized_telemetry=False, allow_reset=False))


# A reader's client keeps the vector index it loaded: writes by another process (this one's writer child, an
# `assistant embed`) reach it only through a new client. A question opens one at most this often (a new client's
# first query loads the index: about 0.1 s at 40k vectors); ids() and count(), which writers act on, every time.
REOPEN_AFTER_WRITE_S = 5.0
WRITTEN_STAMP = "written"  # in the store's folder: touched after each whole write, by whichever process wrote


class LocalChromaStore(ChromaVectorStore):
    """Chroma embedded in the index folder. Reads run here; writes run in a child process with a deadline
    (vector_writer.py), so a write chromadb cannot finish never holds up the questions or a stop."""

    def __init__(self, path: Path, collection_name: str):
        from .vector_writer import VectorWriter

        self.path, self.name = path, collection_name
        self._stamp = path / WRITTEN_STAMP
        self._seen = self._written()
        self._opened_at = time.monotonic()
        super().__init__(_local_client(path), collection_name)
        self._writer = VectorWriter(path, collection_name)
        self._reopening = threading.Lock()

    def _written(self) -> int:
        try:
            return os.stat(self._stamp).st_mtime_ns
        except OSError:
            return 0

    def _fresh(self, at_most_every: float = 0.0) -> None:
        """Open a new client if any process wrote since this one was opened (and `at_most_every` seconds passed)."""
        written = self._written()
        if written == self._seen or time.monotonic() - self._opened_at < at_most_every:
            return
        with self._reopening:
            if written == self._seen:
                return
            # chromadb keeps one system per path in a process: forget it (without stopping it, since a question
            # may still be reading through it) so that the next client reads the store as it is now.
            from chromadb.api.shared_system_client import SharedSystemClient

            SharedSystemClient._identifier_to_refcount.pop(str(self.path), None)
            SharedSystemClient._identifier_to_system.pop(str(self.path), None)
            self.client = _local_client(self.path)
            self.collection = self.client.get_or_create_collection(
                name=self.name, embedding_function=None, configuration={"hnsw": {"space": "cosine"}})
            self._seen, self._opened_at, self._count = written, time.monotonic(), None

    def _wrote(self) -> None:
        """Tell every reader (this process's too: its client does not see the child's writes) to open anew."""
        self._count = None
        with contextlib.suppress(OSError):  # a full disk still lets a file's time change; nothing else is at stake
            self._stamp.touch()
            os.utime(self._stamp, ns=(time.time_ns(), max(time.time_ns(), self._written() + 1)))

    def upsert(self, ids: list[str], vectors: np.ndarray, metadatas: list[dict], documents: list[str] | None = None) -> None:
        try:
            for i in range(0, len(ids), CHROMA_BATCH):
                self._writer.call("upsert", ids[i : i + CHROMA_BATCH], np.asarray(vectors[i : i + CHROMA_BATCH]),
                                  metadatas[i : i + CHROMA_BATCH],
                                  documents[i : i + CHROMA_BATCH] if documents is not None else None)
        finally:
            self._wrote()  # even a failed write may have landed in part

    def delete(self, ids: list[str]) -> None:
        try:
            for i in range(0, len(ids), CHROMA_BATCH):
                self._writer.call("delete", ids[i : i + CHROMA_BATCH])
        finally:
            self._wrote()

    def ids(self) -> set[str]:
        self._fresh()
        return super().ids()

    def count(self) -> int:
        self._fresh()
        return super().count()

    def query(self, vector: np.ndarray, k: int) -> list[tuple[str, float]]:
        self._fresh(REOPEN_AFTER_WRITE_S)
        return super().query(vector, k)

    def close(self) -> None:
        self._writer.close()


def forget_clients(path: Path) -> None:
    """Stop and drop chromadb's cached system for the store at `path` (it keeps one per path in a process), before
    that store is removed and made anew; other stores' clients are left alone."""
    try:
        from chromadb.api.shared_system_client import SharedSystemClient

        SharedSystemClient._identifier_to_refcount.pop(str(path), None)
        system = SharedSystemClient._identifier_to_system.pop(str(path), None)
    except Exception:  # noqa: BLE001 - a chromadb without this cache: nothing to forget
        return
    if system is not None:
        try:
            system.stop()
        except Exception:  # noqa: BLE001 - a torn store may fail to stop; it is removed next anyway
            pass


class NoVectorStore:
    """The store of a lexical-only index: it keeps nothing and finds nothing (and makes no folder)."""

    def upsert(self, ids: list[str], vectors: np.ndarray, metadatas: list[dict], documents: list[str] | None = None) -> None:
        pass

    def delete(self, ids: list[str]) -> None:
        pass

    def ids(self) -> set[str]:
        return set()

    def count(self) -> int:
        return 0

    def forget_count(self) -> None:
        pass

    def query(self, vector: np.ndarray, k: int) -> list[tuple[str, float]]:
        return []

    def drop_collections(self, prefix: str) -> list[str]:
        return []

    def close(self) -> None:
        pass


def make_vector_store(settings: Settings, index_dir: Path, collection_name: str) -> VectorStore:
    """The vector store chosen by settings: none for a lexical-only index, a Chroma server when
    ASSISTANT_CHROMA_HOST names one, else Chroma embedded in index_dir/chroma."""
    if settings.embedding == "none":
        return NoVectorStore()
    if settings.chroma_host:
        from .shared import connect

        return ChromaVectorStore(connect(settings.chroma_host, settings.chroma_port), collection_name)
    if settings.vector_store == "chroma":
        return LocalChromaStore(index_dir / "chroma", collection_name)
    raise ValueError(f"unknown vector store: {settings.vector_store}")


# Vectors of an embedder that no longer exists: the feature-hashing embedder's (the default before issue 23, 666 MB
# of crud_news_dev's index). reconcile() drops them from a local store.
RETIRED_COLLECTIONS = "chunks_hashing-"


def collection_name(fingerprint: str) -> str:
    return "chunks_" + re.sub(r"[^a-zA-Z0-9_-]", "_", fingerprint)[:50]


class MarkedWrites:
    """The vector store, marking the index dirty before each write (so a writer's death mid-write is noticed)."""

    def __init__(self, store: VectorStore, mark: Callable[[], None]):
        self._store, self._mark = store, mark

    def upsert(self, ids, vectors, metadatas, documents=None) -> None:
        self._mark()
        self._store.upsert(ids, vectors, metadatas, documents)

    def delete(self, ids) -> None:
        self._mark()
        self._store.delete(ids)

    def __getattr__(self, name):  # reads pass through
        return getattr(self._store, name)
