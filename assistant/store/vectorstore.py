"""The vector store seam: one small interface, a Chroma implementation chosen by settings."""

from __future__ import annotations

from pathlib import Path
import re
from typing import Callable, Protocol

import numpy as np

from ..settings import Settings


class VectorStore(Protocol):
    """Chunk vectors keyed by chunk id; scores are cosine similarities (higher is closer)."""

    def upsert(self, ids: list[str], vectors: np.ndarray, metadatas: list[dict], documents: list[str] | None = None) -> None: ...

    def delete(self, ids: list[str]) -> None: ...

    def ids(self) -> set[str]: ...

    def count(self) -> int: ...

    def forget_count(self) -> None: ...

    def query(self, vector: np.ndarray, k: int) -> list[tuple[str, float]]: ...

    def drop_collections(self, prefix: str) -> list[str]: ...


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

    @classmethod
    def persistent(cls, path: Path, collection_name: str) -> "ChromaVectorStore":
        import chromadb
        from chromadb.config import Settings as ChromaSettings

        path.mkdir(parents=True, exist_ok=True)
        client = chromadb.PersistentClient(
            path=str(path), settings=ChromaSettings(anonymized_telemetry=False, allow_reset=False)
        )
        return cls(client, collection_name)

    def forget_count(self) -> None:
        self._count = None

    def upsert(self, ids: list[str], vectors: np.ndarray, metadatas: list[dict], documents: list[str] | None = None) -> None:
        """`documents`: the passages' texts, kept beside their vectors (server mode: the server holds them all)."""
        self._count = None
        batch = 4000  # below Chroma's max batch size
        for i in range(0, len(ids), batch):
            self.collection.upsert(
                ids=ids[i : i + batch],
                embeddings=vectors[i : i + batch].tolist(),
                metadatas=metadatas[i : i + batch],
                **({"documents": documents[i : i + batch]} if documents is not None else {}),
            )

    def delete(self, ids: list[str]) -> None:
        self._count = None
        for i in range(0, len(ids), 4000):
            self.collection.delete(ids=ids[i : i + 4000])

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


def make_vector_store(settings: Settings, index_dir: Path, collection_name: str) -> VectorStore:
    """The vector store chosen by settings: none for a lexical-only index, a Chroma server when
    ASSISTANT_CHROMA_HOST names one, else Chroma embedded in index_dir/chroma."""
    if settings.embedding == "none":
        return NoVectorStore()
    if settings.chroma_host:
        from .shared import connect

        return ChromaVectorStore(connect(settings.chroma_host, settings.chroma_port), collection_name)
    if settings.vector_store == "chroma":
        return ChromaVectorStore.persistent(index_dir / "chroma", collection_name)
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
