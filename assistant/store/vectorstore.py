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
        self.collection = open_collection(client, collection_name)
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
        return _all_ids(self.collection)

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
        return _nearest(self.collection, vector, k, self._counted(self.collection))

    def _counted(self, collection) -> int:
        """The store's count, remembered until a write (counting costs as much as a query)."""
        if self._count is None:
            self._count = collection.count()
        return self._count


def open_collection(client, name: str):
    """The collection of our vectors in a Chroma client, made if new. embedding_function=None: Chroma must never
    download its default ONNX model. (Wider HNSW search, ef 200 / M 32, gained nothing on CMRC and slowed ingestion
    by half.)"""
    return client.get_or_create_collection(name=name, embedding_function=None, configuration={"hnsw": {"space": "cosine"}})


def _all_ids(collection) -> set[str]:
    out: set[str] = set()
    offset = 0
    while True:
        got = collection.get(include=[], limit=5000, offset=offset)["ids"]
        out.update(got)
        if len(got) < 5000:
            return out
        offset += len(got)


def _nearest(collection, vector: np.ndarray, k: int, n: int) -> list[tuple[str, float]]:
    """The k nearest of a collection holding n vectors, as (id, cosine similarity)."""
    if n == 0:
        return []
    res = collection.query(query_embeddings=[vector.tolist()], n_results=min(k, n), include=["distances"])
    return [(cid, 1.0 - float(dist)) for cid, dist in zip(res["ids"][0], res["distances"][0])]


def local_client(path: Path):
    """A client of the Chroma store embedded at `path` (no telemetry)."""
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    path.mkdir(parents=True, exist_ok=True)
    return chromadb.PersistentClient(path=str(path), settings=ChromaSettings(anonymized_telemetry=False, allow_reset=False))


# A reader's client keeps the vector index it loaded: writes by another process (this one's writer child, an
# `assistant embed`) reach its queries only through a new client (ids and counts, read from Chroma's SQLite, are
# always current). A question opens one at most this often after a write: a new client's first query loads the
# index, about 0.1 s at 40k vectors.
REOPEN_AFTER_WRITE_S = 5.0
WRITTEN_STAMP = "written"  # in the store's folder: touched after each write, by whichever process wrote


class _Opened:
    """One client of an embedded store, and how many reads are using it: a client replaced by a newer one is stopped
    (its vector index freed: tens of MB at 20k vectors) once its last read has returned."""

    def __init__(self, path: Path, name: str, written: int):
        # chromadb keeps one system per path in a process: forget the cached one, so this client reads the store as
        # it is now (the one forgotten is stopped by its own _Opened, when no read uses it any more).
        _uncache_system(path)
        self.client = local_client(path)
        self.system = _cached_system(path)
        self.collection = open_collection(self.client, name)
        self.written, self.at, self.users, self.retired = written, time.monotonic(), 0, False

    def stop(self) -> None:
        if self.system is not None:
            with contextlib.suppress(Exception):  # a torn store may fail to stop; nothing reads it any more
                self.system.stop()


class LocalChromaStore(ChromaVectorStore):
    """Chroma embedded in the index folder. Reads run here; writes run in a child process with a deadline
    (vector_writer.py), so a write chromadb cannot finish never holds up the questions or a stop."""

    def __init__(self, path: Path, collection_name: str):
        from .vector_writer import VectorWriter

        self.path, self.name = path, collection_name
        self._stamp = path / WRITTEN_STAMP
        path.mkdir(parents=True, exist_ok=True)
        self._guard = threading.Lock()
        self._opened = _Opened(path, collection_name, self._written())
        self.client, self.collection, self._count = self._opened.client, self._opened.collection, None
        self._writer = VectorWriter(path, collection_name)

    def _written(self) -> int:
        try:
            return os.stat(self._stamp).st_mtime_ns
        except OSError:
            return 0

    @contextlib.contextmanager
    def _reading(self, fresh: bool, now: bool = False):
        """The current client's collection for one read; with `fresh`, a new client first if any process wrote since
        the current one opened (at most every REOPEN_AFTER_WRITE_S, unless `now`)."""
        written = self._written() if fresh else None
        with self._guard:
            current = self._opened
            if fresh and written != current.written and (now or time.monotonic() - current.at >= REOPEN_AFTER_WRITE_S):
                current.retired = True
                if not current.users:
                    current.stop()
                current = self._opened = _Opened(self.path, self.name, written)
                self.client, self.collection, self._count = current.client, current.collection, None
            current.users += 1
        try:
            yield current.collection
        finally:
            with self._guard:
                current.users -= 1
                if current.retired and not current.users:
                    current.stop()

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

    # ids and count read Chroma's SQLite, which every client sees whole; only the vector index needs a new client.
    def ids(self) -> set[str]:
        with self._reading(fresh=False) as collection:
            return _all_ids(collection)

    def count(self) -> int:
        with self._reading(fresh=False) as collection:
            return collection.count()

    def query(self, vector: np.ndarray, k: int) -> list[tuple[str, float]]:
        try:
            with self._reading(fresh=True) as collection:
                return _nearest(collection, vector, k, self._counted(collection))
        except Exception:  # noqa: BLE001 - chromadb's errors: retried once through a new client, else raised
            if self._written() == self._opened.written:
                raise
        # A client opened before another process first wrote the vector index finds its files missing ("Nothing
        # found on disk") rather than stale: a new client reads them.
        with self._reading(fresh=True, now=True) as collection:
            return _nearest(collection, vector, k, self._counted(collection))

    def drop_collections(self, prefix: str) -> list[str]:
        with self._reading(fresh=False):
            return super().drop_collections(prefix)

    def close(self) -> None:
        self._writer.close()


def forget_clients(path: Path) -> None:
    """Stop and drop chromadb's cached system for the store at `path` (it keeps one per path in a process), before
    that store is removed and made anew; other stores' clients are left alone."""
    system = _uncache_system(path)
    if system is not None:
        try:
            system.stop()
        except Exception:  # noqa: BLE001 - a torn store may fail to stop; it is removed next anyway
            pass


def _uncache_system(path: Path):
    """Take the store at `path` out of chromadb's per-process cache of systems (one per path); the system it held, or
    None. The next client of that path opens the store anew."""
    try:
        from chromadb.api.shared_system_client import SharedSystemClient

        SharedSystemClient._identifier_to_refcount.pop(str(path), None)
        return SharedSystemClient._identifier_to_system.pop(str(path), None)
    except Exception:  # noqa: BLE001 - a chromadb without this cache: nothing to forget
        return None


def _cached_system(path: Path):
    """chromadb's cached system for the store at `path`, if any."""
    try:
        from chromadb.api.shared_system_client import SharedSystemClient

        return SharedSystemClient._identifier_to_system.get(str(path))
    except Exception:  # noqa: BLE001
        return None


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
