"""The index: the SQLite catalog (the source of truth) with the vector store and the BM25 indexes derived from it,
kept in step. One writer at a time commits document records (ingest/pipeline.py prepares them); readers search and
read. The store knows nothing of files."""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import shutil
import sqlite3
import threading
import time
import weakref
from collections import deque
from contextlib import contextmanager, nullcontext
from dataclasses import replace
from pathlib import Path
from typing import Callable, Iterable

from ..errors import DiskFull, IndexBusy, IndexMissing, StoreUnavailable
from ..settings import Settings
from ..text.script import to_simplified
from . import catalog, merge, space
from .merge import BM25_DELTA_SHARE, BM25_LAYER_MAX_SHARE, MERGE_AGAIN_S
from .catalog import BM25_KINDS, CATALOG_FILE, WRITE_LOCK, FACT_COLUMNS, fact_filter, split_article_key
from .children import die_with_parent
from .embedding import Embedder, document_vectors, make_embedder
from .lexical import BM25Index, LayeredBM25
from .probe import store_is_whole
from .records import (
    ArticleText, DocumentInfo, DocumentRecord, Fact, IndexStatus, Passage, fact_of_row, scoped_text,
)
from .shared import SharedCatalog, SharedDocument, connect
from .snapshot import IndexSnapshot
from .vectorstore import (
    RETIRED_COLLECTIONS, MarkedWrites, VectorStore, collection_name, forget_clients, make_vector_store,
)

log = logging.getLogger(__name__)


# A writer that finds the write lock held waits this long before saying another is at work: a background merge
# (store/merge.py) holds it under a second to save, an embedding batch a few seconds.
WRITE_LOCK_WAIT_S = 3.0
LOCK_POLL_S = 0.05
EMBED_BATCH = 16  # passages per background embedding batch: a few seconds of e5, so a stop or a lock waits little
# Present from a writer's first vector write until its hold on the write lock ends: found by a later process, it
# means a writer died mid-write and the vector store may be torn (chromadb then crashes or fails on every read).
VECTORS_DIRTY = "vectors.dirty"
# Present from a writer's first change (catalog or vectors) until its hold on the write lock ends without an error:
# found by the next ingest, it means the catalog and the vectors may disagree (orphan or missing vectors), and
# reconcile() runs. A clean index is not scanned: an ingest's cost is its own documents'.
REPAIR_MARK = "repair.needed"
SYNC_INTERVAL_S = 1.0  # server mode: how often a reader asks the Chroma server whether another process wrote
# Server mode: a publish the Chroma server does not answer is sent again for this long (a restarted server is back
# within seconds), every PUBLISH_RETRY_PAUSE_S, before the batch is reported as not imported.
PUBLISH_RETRY_S = 15.0
PUBLISH_RETRY_PAUSE_S = 0.5
# Server mode: how often a reader compares every document's hash with the server's (two requests for 10k documents),
# to catch a change whose generation bump never came (its writer, or the server, died in between).
VERIFY_INTERVAL_S = 15.0
MEMO_ARTICLES = 50_000  # articles whose passage ids article_chunks remembers (a few MB); past it, it starts over

_OPENING = threading.Lock()


class _ThreadConnection:
    """One thread's connection to the catalog, held in that thread's threading.local: when the thread ends, the
    local drops it and the connection closes."""

    __slots__ = ("conn", "__weakref__")

    def __init__(self, conn: sqlite3.Connection):
        self.conn = conn

    def __del__(self):
        self.conn.close()


class Index:
    """Open with Index.open(settings); commit() and delete_document() write (one writer at a time), a snapshot()
    reads."""

    def __init__(self, settings: Settings, index_dir: Path, embedder: Embedder):
        self.settings = settings
        self.dir = index_dir
        self.embedder = embedder
        self._local = threading.local()  # each thread reads through its own SQLite connection
        # Every thread's connection, for close(); a thread's own closes when the thread ends (a server's worker threads
        # come and go: anyio lets an idle one end after 10 s, and each kept connection held three files and its cache).
        self._connections: weakref.WeakSet[_ThreadConnection] = weakref.WeakSet()
        self._connecting = threading.Lock()
        catalog.create(self.db)
        self._vectors: VectorStore | None = None
        # ASSISTANT_EMBEDDING=none: BM25 alone; no vector store, nothing pending, nothing to repair.
        self.lexical_only = settings.embedding == "none"
        self._bm25s: dict[str, BM25Index | None] = dict.fromkeys(BM25_KINDS)  # by kind, as last loaded
        self._dense_generation = -1
        # One thread at a time loads a newer BM25; meanwhile other readers keep answering from the one they have.
        self._loading = {kind: threading.Lock() for kind in BM25_KINDS}
        self._writer = threading.local()  # this thread's hold on the write lock: writes nest
        # Server mode: the Chroma server's catalog is the truth, this catalog a copy kept by sync().
        self.shared: SharedCatalog | None = None
        if settings.chroma_host:
            self.shared = SharedCatalog(connect(settings.chroma_host, settings.chroma_port))
        self._synced_at = float("-inf")
        self._verified_at = float("-inf")  # when this copy was last compared, document by document, with the server
        self.degraded: str | None = None  # server mode: why the Chroma server is not being used right now
        self._article_ids: tuple[int, dict[str, list[str]]] = (-1, {})
        self._merge_asked = float("-inf")  # when this process last asked store/merge.py to merge  # article_chunks' memo, for one generation

    @property
    def db(self) -> sqlite3.Connection:
        """This thread's connection to the catalog (opened on first use): concurrent questions never share a cursor,
        and each reads a committed state."""
        held = getattr(self._local, "db", None)
        if held is None:
            held = _ThreadConnection(sqlite3.connect(str(self.dir / CATALOG_FILE), check_same_thread=False, timeout=30))
            with self._connecting:
                self._connections.add(held)
            self._local.db = held
        return held.conn

    # --- one writer at a time ------------------------------------------------------------

    @contextmanager
    def writing(self, wait: float = 0.0):
        """Hold the index's write lock: one writer at a time, across processes and threads (an flock on
        write.lock, which the system releases when a writer dies, even by kill -9). Raises IndexBusy when another
        writer holds it for more than `wait` seconds (at once for readers that save on the side); readers never
        take it otherwise."""
        if getattr(self._writer, "depth", 0):
            self._writer.depth += 1
            try:
                yield
            finally:
                self._writer.depth -= 1
            return
        fd = os.open(self.dir / WRITE_LOCK, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            deadline = time.monotonic() + wait
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        holder = os.pread(fd, 64, 0).decode("ascii", "replace").strip() or "?"
                        raise IndexBusy(f"另一个导入或删除正在写入这个索引（进程 {holder}），请等它结束后再试。") from None
                    time.sleep(LOCK_POLL_S)
            with contextlib.suppress(OSError):  # who holds it, for the message of a writer kept waiting (a full disk may refuse)
                os.ftruncate(fd, 0)
                os.pwrite(fd, str(os.getpid()).encode(), 0)
            self._writer.depth, self._writer.fd, self._writer.changing, self._writer.incomplete = 1, fd, False, False
            whole = False
            try:
                yield
                whole = True
            finally:
                self._writer.depth, self._writer.fd = 0, None
                whole = whole and not self._writer.incomplete
                if getattr(self._writer, "dirty", False):
                    if whole:  # every vector write of this hold has returned whole
                        (self.dir / VECTORS_DIRTY).unlink(missing_ok=True)
                    self._writer.dirty = False
                if self._writer.changing and whole:  # every change of this hold is complete
                    (self.dir / REPAIR_MARK).unlink(missing_ok=True)
                self._writer.changing = self._writer.incomplete = False
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    def lock_fd(self) -> int | None:
        """The file descriptor of this thread's hold on the write lock (a forked worker must close its copy)."""
        return getattr(self._writer, "fd", None)

    def _will_change(self) -> None:
        """Before a writer's first change of a hold: mark the index for repair, until the hold ends whole."""
        if not getattr(self._writer, "changing", False):
            self._mark(REPAIR_MARK)
            self._writer.changing = True

    def _mark(self, name: str) -> None:
        """Leave a mark file (the writer's pid in it, for whoever looks). On a full disk an empty file still fits; if
        not even that does, nothing may be changed: DiskFull."""
        try:
            (self.dir / name).write_text(str(os.getpid()), encoding="ascii")
        except OSError as exc:
            if not space.is_full(exc):
                raise
            try:
                (self.dir / name).touch()
            except OSError:
                raise space.full(self.dir, self.settings.min_free_mb) from None

    def _save_if_free(self, bm25: BM25Index, path: Path) -> None:
        """Save a rebuilt BM25 under the write lock; while another writer works, a reader keeps its rebuild in memory
        and leaves the saving to that writer (never racing its save)."""
        try:
            with self.writing():
                bm25.save(path)
        except IndexBusy:
            pass
        except OSError as exc:  # a full disk (numpy says "N requested and M written"): served from memory meanwhile
            log.warning("a rebuilt keyword index could not be saved (%s); answering from memory",
                        exc.strerror or str(exc)[:100])

    # --- opening -------------------------------------------------------------------------

    @classmethod
    def open(cls, settings: Settings, index_dir: Path | None = None, create: bool = False) -> "Index":
        index_dir = Path(index_dir or settings.index_dir)
        if not (index_dir / CATALOG_FILE).exists():
            if not create and not settings.chroma_host:  # in server mode, a new process copies the shared catalog
                raise IndexMissing(str(index_dir))
            index_dir.mkdir(parents=True, exist_ok=True)
        index = cls(settings, index_dir, make_embedder(settings))
        index.sync(force=True)
        return index

    @property
    def vectors(self) -> VectorStore:
        if self._vectors is None and self.lexical_only:
            self._vectors = make_vector_store(self.settings, self.dir, "")
        if self._vectors is None:
            torn = False
            with _OPENING:  # Chroma's client must not be created by two threads at once
                if self._vectors is None and self.shared is not None:  # the server keeps its own store whole
                    self._vectors = make_vector_store(self.settings, self.dir, collection_name(self.embedder.fingerprint))
                if self._vectors is None:
                    if (self.dir / VECTORS_DIRTY).exists():
                        torn = self._clear_if_torn()
                    store = make_vector_store(self.settings, self.dir, collection_name(self.embedder.fingerprint))
                    self._vectors = MarkedWrites(store, self._mark_dirty)
            if torn:
                self._refill_vectors()
        return self._vectors

    # --- a torn vector store -------------------------------------------------------------

    def _mark_dirty(self) -> None:
        self._will_change()
        if not getattr(self._writer, "dirty", False):
            self._mark(VECTORS_DIRTY)
            self._writer.dirty = True

    def _clear_if_torn(self, known_torn: bool = False) -> bool:
        """After a writer died mid-write (or a read failed): check the store in a child process (chromadb can crash
        the process reading a torn segment), and if it is torn, remove it; True if it was. Nothing is done while
        another writer is at work."""
        try:
            with self.writing():
                chroma = self.dir / "chroma"
                torn = known_torn or (chroma.exists() and not store_is_whole(chroma, collection_name(self.embedder.fingerprint)))
                with contextlib.suppress(DiskFull):
                    self._mark(REPAIR_MARK)  # the next ingest reconciles
                if torn:
                    log.warning("the vector store in %s is torn; rebuilding it from the catalog", chroma)
                    if self._vectors is not None:
                        self._vectors.close()
                    forget_clients(chroma)
                    shutil.rmtree(chroma, ignore_errors=True)
                (self.dir / VECTORS_DIRTY).unlink(missing_ok=True)
                self._writer.dirty = False
                return torn
        except IndexBusy:
            return False

    def _vector_write_failed(self, exc: Exception) -> None:
        """After a vector write that did not finish: the hold ends incomplete (the marks stay, so the store is checked
        and reconciled), and the store is opened anew at its next use (checked first, rebuilt if torn). A full disk
        is said as DiskFull."""
        self._writer.incomplete = True
        detail = getattr(exc, "detail", str(exc))  # chromadb's own words, as the writer child relayed them
        log.warning("a vector write failed (%s: %s)", type(exc).__name__, detail[:200])
        if self._vectors is not None and not self.lexical_only and self.shared is None:
            self._vectors.close()
            self._vectors = None
        if space.is_full(exc) or "compaction" in detail or space.below(self.dir, self.settings.min_free_mb):
            raise space.full(self.dir, self.settings.min_free_mb) from None

    def _refill_vectors(self) -> None:
        """The vectors of a rebuilt store, from the catalog: at once for an inline embedder (a slow one's follow in
        the background, as after any ingest)."""
        if self.embedder.inline:
            try:
                with self.writing():
                    self.embed_pending()
            except IndexBusy:
                pass  # the writer that took over reconciles them

    def meta(self, key: str, default: str | None = None) -> str | None:
        return catalog.get_meta(self.db, key, default)

    @property
    def generation(self) -> int:
        return int(self.meta("generation", "0"))

    def close(self) -> None:
        if self._vectors is not None:
            self._vectors.close()
        with self._connecting:
            for held in list(self._connections):
                held.conn.close()
            self._connections.clear()
        self._local = threading.local()

    # --- consistency ---------------------------------------------------------------------

    def needs_repair(self) -> bool:
        """Whether a writer died mid-change (or left the vector store possibly torn): then reconcile()."""
        return (self.dir / REPAIR_MARK).exists() or (self.dir / VECTORS_DIRTY).exists()

    def reconcile(self) -> dict:
        """Make the vector store and BM25 match the catalog: drop orphans, embed what is missing (a slow embedder's
        vectors follow in the background). On a shared server, vectors that no catalog record names may be another
        process's, written a moment ago: they are left."""
        with self.writing():
            result = self._reconcile()
            (self.dir / REPAIR_MARK).unlink(missing_ok=True)
            return result

    def _reconcile(self) -> dict:
        self.sync(force=True)
        catalog_ids = {r[0] for r in self.db.execute("SELECT chunk_id FROM chunks")}
        if not catalog_ids and self.shared is None and not (self.dir / "chroma").exists():
            return {"orphans_removed": 0, "vectors_added": 0}  # a new index: nothing to repair
        stored = self.vectors.ids()
        orphans = sorted(stored - catalog_ids) if self.shared is None else []
        if orphans:
            self.vectors.delete(orphans)
        self._drop_retired()
        added = self.embed_pending() if self.embedder.inline else 0  # a slow embedder's vectors follow later
        self.refresh_lexical()
        return {"orphans_removed": len(orphans), "vectors_added": added}

    def _drop_retired(self) -> None:
        """Drop a local store's collections of retired embedders (the caller holds the write lock)."""
        if self.shared is None:
            for name in self.vectors.drop_collections(RETIRED_COLLECTIONS):
                log.warning("dropped the vectors of a retired embedder (%s)", name)

    def pending_vectors(self) -> list[str]:
        """Chunks in the catalog that have no vector yet, in reading order."""
        if self.lexical_only:
            return []
        stored = self.vectors.ids()
        rows = self.db.execute("SELECT chunk_id FROM chunks ORDER BY doc_id, ordinal").fetchall()
        return [r[0] for r in rows if r[0] not in stored]

    def embed_pending(self, batch_size: int = EMBED_BATCH, progress: Callable[[int, int], None] | None = None,
                      stop: Callable[[], bool] | None = None, lock=None) -> int:
        """Embed the chunks that have no vector, a batch at a time (each batch lands on its own, so an interrupted
        run resumes where it stopped); e5 embeds in worker processes, a few batches ahead of the writes. `lock` is
        held per batch, not for the whole run; `stop()` ends it early."""
        missing = self.pending_vectors()
        if not missing:
            return 0
        with lock if lock is not None else nullcontext(), self.writing(WRITE_LOCK_WAIT_S):
            self._drop_retired()
        sent: deque[list[dict]] = deque()  # the rows of the batches in flight, in order

        def batches() -> Iterable[list[str]]:
            for i in range(0, len(missing), batch_size):
                if stop is not None and stop():
                    return
                rows = catalog.chunk_rows(self.db, missing[i : i + batch_size])  # a chunk deleted meanwhile is simply gone
                sent.append(rows)
                yield [to_simplified(scoped_text(r["title"], r["subtitle"], r["text"])) for r in rows]

        done = 0
        with document_vectors(self.settings, self.embedder, die_with_parent, stop) as embed:
            for vectors in embed(batches()):
                rows = sent.popleft()
                with lock if lock is not None else nullcontext(), self.writing(WRITE_LOCK_WAIT_S):
                    # A passage deleted or replaced while it was embedded gets no vector (it would be an orphan).
                    live = self._live_chunks([r["chunk_id"] for r in rows])
                    keep = [n for n, r in enumerate(rows) if r["chunk_id"] in live]
                    if keep:
                        try:
                            self.vectors.upsert(  # the catalog has the rest: a title and a path a vector would repeat
                                [rows[n]["chunk_id"] for n in keep], vectors[keep],
                                [{"doc_id": rows[n]["doc_id"]} for n in keep],
                                documents=[rows[n]["text"] for n in keep] if self.shared is not None else None,
                            )
                        except StoreUnavailable as exc:
                            if self.shared is not None:
                                raise
                            self._vector_write_failed(exc)
                            raise
                done += len(rows)
                if progress:
                    progress(done, len(missing))
                if stop is not None and stop():
                    break
        return done

    def _live_chunks(self, chunk_ids: list[str]) -> set[str]:
        marks = ",".join("?" * len(chunk_ids))
        return {r[0] for r in self.db.execute(f"SELECT chunk_id FROM chunks WHERE chunk_id IN ({marks})", chunk_ids)}

    def _fresh(self, kind: str, rebuild: bool = True, exact: bool = False) -> BM25Index | None:
        """The BM25 of `kind` (a key of BM25_KINDS) for the catalog's generation: loaded from disk when a writer saved
        it; else the saved one with the documents changed since laid over it, while they are few; else rebuilt from
        the catalog and saved (None instead when not `rebuild`). While one thread loads it, other readers answer from
        the one they have (it is consistent with an earlier committed catalog), unless they need the `exact`
        generation (a turn's read transaction); the writer waits for the new one."""
        writing = bool(getattr(self._writer, "depth", 0))
        if not writing:
            self.sync()
        current = self._bm25s[kind]
        if current is not None and current.generation == self.generation:
            return current
        lock = self._loading[kind]
        if not lock.acquire(blocking=current is None or writing or not rebuild or exact):
            return current
        try:
            gen = self.generation
            current = self._bm25s[kind]
            if current is None or current.generation != gen:
                folder, build = BM25_KINDS[kind]
                base = current.base if isinstance(current, LayeredBM25) else current
                held = base is not None and base.is_saved_at(self.dir / folder)
                saved = None if held else BM25Index.load(self.dir / folder)
                if saved is not None and (base is None or saved.generation >= base.generation):
                    base = saved  # what a writer saved last, when newer than what this process holds
                if base is not None and base.generation == gen:
                    current = base
                else:
                    current = self._layered(kind, base, gen) if base is not None else None
                    if current is None:
                        if not rebuild:
                            return None
                        current = build(self.db, gen)
                        self._save_if_free(current, self.dir / folder)
                self._bm25s[kind] = current
            return current
        finally:
            lock.release()

    def _layered(self, kind: str, base: BM25Index, gen: int) -> LayeredBM25 | None:
        """`base` with the documents the catalog changed since it was built laid over it, or None when the base does
        not say what it was built from or the change has outgrown BM25_LAYER_MAX_SHARE (then it is rebuilt here). Past
        BM25_DELTA_SHARE, a merge is started in the background."""
        sources = base.sources()
        if sources is None:
            return None
        now = dict(self.db.execute("SELECT doc_id, content_hash FROM documents"))
        changed = [d for d, h in now.items() if sources.hashes.get(d) != h]
        stale = set(changed).union(d for d in sources.hashes if d not in now)
        masked = [i for i, d in enumerate(sources.row_docs) if d in stale]
        limit = BM25_LAYER_MAX_SHARE * len(base.ids)
        if len(masked) > limit or len(changed) > limit:
            return None
        _, build = BM25_KINDS[kind]
        delta = build(self.db, gen, changed, base) if changed else BM25Index.build([], gen)
        if len(delta.ids) + len(masked) > limit:
            return None
        if len(delta.ids) + len(masked) > BM25_DELTA_SHARE * len(base.ids):
            now = time.monotonic()
            if now - self._merge_asked >= MERGE_AGAIN_S:  # the merge itself runs one at a time per index
                self._merge_asked = now
                merge.start(self.dir)
        return LayeredBM25(base, delta, masked, gen)

    def lexical(self, kind: str, exact: bool = False) -> BM25Index:
        """The BM25 of `kind` ("bm25": passages; "articles": whole articles) for the committed catalog (`exact`: for
        the very generation this thread reads, waiting while another thread loads it)."""
        return self._fresh(kind, exact=exact)

    @contextmanager
    def reading(self):
        """One consistent view of the catalog for this thread (a read transaction): a turn reads its BM25, passages,
        articles and facts as of one generation, so a document replaced meanwhile is seen whole, old or new. Must be
        entered and left by the same thread, and holds no lock (writers go on; WAL)."""
        db = self.db
        if db.in_transaction:
            yield
            return
        db.execute("BEGIN")
        try:
            yield
        finally:
            if db.in_transaction:
                db.execute("COMMIT")  # a read transaction: nothing to write, the view is released

    def snapshot(self) -> IndexSnapshot:
        """The index as one question reads it (store/snapshot.py)."""
        return IndexSnapshot(self)

    def refresh_lexical(self, pool=None) -> None:
        """Both BM25 indexes of the catalog as committed. With a pool of worker processes at hand (a large ingest's),
        one of them builds and saves the article index while this process builds the passage index (together they
        are a third of a large ingest's time)."""
        pending = None
        if pool is not None and self._fresh("articles", rebuild=False) is None:  # not a small change: rebuild
            pending = pool.submit(catalog.save_bm25, str(self.dir), "articles", self.generation, os.getpid())
        self.lexical("bm25")
        if pending is not None:
            try:
                pending.result()
            except Exception:  # noqa: BLE001 - a worker that failed leaves the build to this process
                log.warning("building the article BM25 in a worker failed; building it here", exc_info=True)
        self.lexical("articles")  # loads what the worker saved

    # --- writing documents ---------------------------------------------------------------

    def commit(self, records: list[DocumentRecord]) -> int:
        """Write documents to the catalog in one transaction (each replaces its earlier version, and every one lands
        whole or none does), then drop the vectors of passages that are gone; returns how many passages are new.
        Their vectors follow (embed_pending): until then, BM25 alone finds them."""
        if not records:
            return 0
        with self.writing():
            text_bytes = sum(len(r.document.text) for r in records)
            space.check(self.dir, self.settings.min_free_mb, text_bytes * space.SPACE_PER_TEXT_BYTE)
            self._will_change()
            old = {r.doc_id: {c for (c,) in self.db.execute("SELECT chunk_id FROM chunks WHERE doc_id=?", (r.doc_id,))}
                   for r in records}
            kept = {c for r in records for c in r.chunk_ids}
            fresh = sum(1 for r in records for c in r.chunk_ids if c not in old[r.doc_id])
            now = time.time()
            records = [replace(r, document=r.document._replace(ingested_at=now)) for r in records]
            if self.shared is not None:  # the server first: it is the truth every process syncs from
                self._publish([SharedDocument(r.doc_id, r.document.content_hash, r) for r in records])
            try:
                with self.db:  # rolled back whole when the disk fills mid-way
                    for r in records:
                        catalog.write_record(self.db, r)
                    catalog.set_meta(self.db, "generation", self.generation + 1)
            except (sqlite3.OperationalError, OSError) as exc:
                if not space.is_full(exc):
                    raise
                raise space.full(self.dir, self.settings.min_free_mb) from None
            stale = sorted(set().union(*old.values()) - kept)
            if stale:
                self._drop_vectors(stale)
            self._published()
            return fresh

    def _drop_vectors(self, chunk_ids: list[str]) -> None:
        """Drop the vectors of passages the catalog no longer has. The catalog is committed by then: a delete that
        fails leaves orphans (no passage answers through them) for the next ingest's reconcile, and the documents
        are still reported as written."""
        try:
            self.vectors.delete(chunk_ids)
        except Exception as exc:  # noqa: BLE001 - chromadb's and the writer child's failures alike
            with contextlib.suppress(DiskFull):
                self._vector_write_failed(exc)

    def replace_facts(self, facts: Iterable[tuple[str, list[Fact]]], version: str) -> None:
        """Replace documents' facts, (doc_id, facts) at a time, in one transaction, and record the extractor's
        version they come from."""
        with self.writing():
            self._will_change()
            with self.db:
                for doc_id, found in facts:
                    catalog.write_facts(self.db, doc_id, found)
                catalog.set_meta(self.db, "facts_version", version)

    def stored_versions(self) -> dict[str, tuple[str, str]]:
        """Every document's content hash and source: what an ingest compares its files with."""
        return {r[0]: (r[1], r[2]) for r in self.db.execute("SELECT doc_id, content_hash, source FROM documents")}

    def records(self) -> Iterable[DocumentRecord]:
        """Every stored document, whole, one at a time."""
        for (doc_id,) in self.db.execute("SELECT doc_id FROM documents ORDER BY doc_id").fetchall():
            record = catalog.read_record(self.db, doc_id)
            if record is not None:
                yield record

    # --- server mode: the shared catalog -------------------------------------------------

    def _publish(self, docs: list[SharedDocument]) -> None:
        """Publish records to the Chroma server, trying again for PUBLISH_RETRY_S if it does not answer: a server that
        died after storing them but before saying so must not make them be reported as not imported (records are
        upserted, so sending them twice is harmless). StoreUnavailable if it never answers."""
        deadline = time.monotonic() + PUBLISH_RETRY_S
        while True:
            try:
                self.shared.publish(docs)
                self._served(True)
                return
            except Exception as exc:  # noqa: BLE001 - chromadb's and httpx's errors alike: the server is away
                self._served(False, exc)
                if time.monotonic() >= deadline:
                    raise StoreUnavailable("Chroma 服务器无法连接，这批文档没有导入（服务器恢复后，其他进程会看到它已收到的部分）；"
                                           "已导入的文档不受影响，仍可提问。") from None
                time.sleep(PUBLISH_RETRY_PAUSE_S)

    def _published(self) -> None:
        """After this process changed the shared store and its own catalog: bump the server's generation, and note
        that this catalog has it. The change is committed by then: if the server is gone before the bump, other
        processes find the change at their next check of the server (VERIFY_INTERVAL_S), and this one says nothing
        of a failure."""
        if self.shared is None:
            return
        try:
            generation = self.shared.bump()
        except Exception as exc:  # noqa: BLE001 - the server went away after the records landed
            self._served(False, exc)
            return
        with self.db:
            catalog.set_meta(self.db, "shared_generation", generation)

    def sync(self, force: bool = False) -> bool:
        """In server mode, bring this process's catalog up to the shared one (at most once per SYNC_INTERVAL_S
        unless forced): documents added, changed or removed by any process since. True if anything changed.
        Skipped while this index is being written here (the writer is up to date by construction)."""
        if self.shared is None:
            return False
        if self.db.in_transaction and not getattr(self._writer, "depth", 0):
            return False  # a turn's read transaction holds its view: catch up at the next turn
        now = time.monotonic()
        if not force and now - self._synced_at < SYNC_INTERVAL_S:
            return False
        self._synced_at = now
        was_away = self.degraded is not None
        try:
            remote = self.shared.generation()
        except Exception as exc:  # noqa: BLE001 - the server is away: answer from the local copy meanwhile
            self._served(False, exc)
            return False
        self._served(True)
        # The generation says what changed, unless a writer died between its records and its bump (or the server
        # between them): then only a comparison of every document's hash finds it, done on coming back and every
        # VERIFY_INTERVAL_S.
        verify = was_away or now - self._verified_at >= VERIFY_INTERVAL_S
        if str(remote) == self.meta("shared_generation") and not verify:
            return False
        try:
            with self.writing():
                changed = self.shared.copy_into(self.db, remote)
                self._verified_at = now
                return changed
        except IndexBusy:
            return False
        except Exception as exc:  # noqa: BLE001 - the server went away mid-copy: the copy is rolled back whole
            self._served(False, exc)
            return False

    def delete_document(self, doc_id: str) -> bool:
        with self.writing(WRITE_LOCK_WAIT_S):
            return self._delete_document(doc_id)

    def _delete_document(self, doc_id: str) -> bool:
        self.sync(force=True)
        self._will_change()
        ids = [r[0] for r in self.db.execute("SELECT chunk_id FROM chunks WHERE doc_id=?", (doc_id,))]
        held = False
        if self.shared is not None:  # the record first: a reader that still sees it finds all its passages
            held = bool(self.shared.remove([doc_id]))  # the server's word counts: this copy may not have it yet
        with self.db:
            deleted = catalog.delete_rows(self.db, doc_id)
            catalog.set_meta(self.db, "generation", self.generation + 1)
        if ids:
            self._drop_vectors(ids)
        self._published()
        self.refresh_lexical()
        return deleted > 0 or held

    # --- reading -------------------------------------------------------------------------

    def _pending(self, chunks: int, vectors: int) -> int:
        return 0 if self.lexical_only else max(0, chunks - vectors)

    def pending_count(self) -> int:
        """How many passages wait for their vectors (a count, unlike pending_vectors)."""
        if self.lexical_only:
            return 0
        self.sync()
        return self._pending(self.db.execute("SELECT COUNT(*) FROM chunks").fetchone()[0], self._vector_count())

    def _vector_count(self) -> int:
        """How many vectors the store holds; with the Chroma server away, as many as passages (none is pending that
        could be embedded now, and the status says degraded)."""
        if self.lexical_only or self.shared is None:
            return self.vectors.count()
        try:
            count = self.vectors.count()
            self._served(True)
            return count
        except Exception as exc:  # noqa: BLE001 - the shared server is away
            self._served(False, exc)
            return self.db.execute("SELECT COUNT(*) FROM chunks").fetchone()[0]

    def _served(self, ok: bool, exc: Exception | None = None) -> None:
        """Note whether the Chroma server answered (server mode): `degraded` says why not, once in the log."""
        if ok:
            if self.degraded:
                log.warning("the Chroma server answers again")
            self.degraded = None
            return
        if not self.degraded:
            log.warning("the Chroma server does not answer (%s); answering from the local lexical index",
                        type(exc).__name__)
        self.degraded = "Chroma 服务器无法连接，暂按关键词检索回答"

    def status(self) -> IndexStatus:
        self.sync()
        q = lambda sql: self.db.execute(sql).fetchone()[0]  # noqa: E731
        chunks, vectors = q("SELECT COUNT(*) FROM chunks"), self._vector_count()
        return IndexStatus(
            documents=q("SELECT COUNT(*) FROM documents"), articles=q("SELECT COUNT(*) FROM articles"), chunks=chunks,
            facts=q("SELECT COUNT(*) FROM facts"), vectors=vectors, vectors_pending=self._pending(chunks, vectors),
            embedding=self.embedder.fingerprint,
            vector_store="none" if self.lexical_only else self.settings.vector_store, index_dir=str(self.dir),
            chroma_server=f"{self.settings.chroma_host}:{self.settings.chroma_port}" if self.shared else None,
            degraded=self.degraded,
        )

    def facts(self, subject: str | None = None, metric: str | None = None, year: int | None = None,
              subject_prefix: str | None = None, limit: int | None = None, offset: int = 0) -> list[Fact]:
        """Stored facts, filtered by subject and metric (substrings) and year; `subject_prefix` selects the subjects
        that start with it through the subject index (a substring filter reads every fact: 65 ms at 100k passages).
        `limit` and `offset` give one page of them, in the same order."""
        self.sync()
        where, args = fact_filter(subject, metric, year, subject_prefix)
        sql = f"SELECT {', '.join(FACT_COLUMNS)} FROM facts WHERE {where} ORDER BY doc_id, rowid"
        if limit is not None:
            sql += " LIMIT ? OFFSET ?"
            args += [int(limit), max(0, int(offset))]
        return [fact_of_row(r) for r in self.db.execute(sql, args)]

    def count_facts(self, subject: str | None = None, metric: str | None = None, year: int | None = None) -> int:
        """How many stored facts the same filters select."""
        self.sync()
        where, args = fact_filter(subject, metric, year, None)
        return self.db.execute(f"SELECT count(*) FROM facts WHERE {where}", args).fetchone()[0]

    def is_empty(self) -> bool:
        self.sync()
        return self.db.execute("SELECT 1 FROM chunks LIMIT 1").fetchone() is None

    def documents(self) -> list[DocumentInfo]:
        self.sync()
        return catalog.documents(self.db)

    def document_source(self, doc_id: str) -> str | None:
        """The file a document was ingested from."""
        row = self.db.execute("SELECT source FROM documents WHERE doc_id=?", (doc_id,)).fetchone()
        return row[0] if row else None

    def documents_from(self, source: str) -> int:
        """How many documents came from this file (a .jsonl holds many)."""
        return self.db.execute("SELECT COUNT(*) FROM documents WHERE source=?", (source,)).fetchone()[0]

    def document_text(self, doc_id: str) -> str | None:
        """A document's whole normalized text (what its articles and chunks index into)."""
        row = self.db.execute("SELECT text FROM documents WHERE doc_id=?", (doc_id,)).fetchone()
        return row[0] if row else None

    def passages(self, chunk_ids: list[str], score: float = 1.0) -> list[Passage]:
        """These chunks as citable passages, in the order given (unknown ids are left out)."""
        return [
            Passage(chunk_id=r["chunk_id"], doc_id=r["doc_id"], source=r["source"], title=r["title"], text=r["text"],
                    score=score, start=r["start"], end=r["end"], article=r["article"], metadata=r["metadata"],
                    subtitle=r["subtitle"])
            for r in catalog.chunk_rows(self.db, chunk_ids)
        ]

    def article(self, doc_id: str, article: int) -> ArticleText | None:
        """One article: title, byline, offsets and its full text, for answers that need more than a chunk."""
        row = self.db.execute(
            "SELECT a.title, a.byline, a.start, a.end, substr(d.text, a.start + 1, a.end - a.start), a.subtitle "
            "FROM articles a "
            "JOIN documents d ON d.doc_id = a.doc_id WHERE a.doc_id=? AND a.idx=?",
            (doc_id, article),
        ).fetchone()
        return ArticleText(*row) if row else None

    def chunk_articles(self, chunk_ids: list[str]) -> dict[str, str]:
        """The article of each of these chunks (chunk_id -> article_key), without reading their text."""
        return catalog.chunk_articles(self.db, chunk_ids)

    def article_chunks(self, keys: list[str]) -> dict[str, list[str]]:
        """The chunk ids of these articles (article_key -> ids in reading order), remembered for the generation."""
        generation = self.generation
        if self._article_ids[0] != generation:
            self._article_ids = (generation, {})
        known = self._article_ids[1]
        out = {key: known[key] for key in keys if key in known}
        missing = [key for key in keys if key not in known]
        if missing:
            found = catalog.article_chunks(self.db, missing)
            if len(known) > MEMO_ARTICLES:
                known.clear()
            known.update(found)
            known.update((key, []) for key in missing if key not in found)
            out.update(found)
        return {key: out[key] for key in sorted(out, key=split_article_key) if out[key]}  # in catalog order

    def search_dense(self, query: str, k: int) -> list[tuple[str, float]]:
        generation = self.generation
        if generation != self._dense_generation:  # another writer may have changed the vectors
            self.vectors.forget_count()
            self._dense_generation = generation
        vector = self.embedder.embed_query(to_simplified(query))
        try:
            found = self.vectors.query(vector, k)
            self._served(True)
            return found
        except Exception as exc:  # a torn store fails every read: rebuilt if no writer is at work, else lexical only
            if self.shared is not None:  # the Chroma server is away: its vectors too; BM25 answers meanwhile
                self._served(False, exc)
                return []
            log.warning("the vector store failed a query (%s: %s)", type(exc).__name__, (str(exc).splitlines() or [""])[0][:200])
            with _OPENING:
                if not self._clear_if_torn(known_torn=True):
                    return []
                self._vectors = None
            self._refill_vectors()
            return self.vectors.query(vector, k)
