"""The index: a SQLite catalog (source of truth) plus the vector store and BM25 derived from it, kept in step."""

from __future__ import annotations

import fcntl
import json
import logging
import os
import re
import shutil
import sqlite3
import threading
import time
from collections import deque
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, Iterable

from ..ingest.articles import ParsedDocument, parse_document
from ..ingest.chunking import Chunk, chunk_document, scoped_text
from .embedding import Embedder, document_vectors, make_embedder
from ..ingest.facts import Fact, FactExtractor, make_extractor
from .lexical import BM25Index, LayeredBM25, Sources
from .probe import store_is_whole
from .records import ArticleText, DocumentInfo, Passage, full_heading
from ..ingest.loading import SourceDocument, Skipped, discover, read_file
from ..errors import IndexBusy, IndexMissing
from ..settings import Settings
from .shared import SharedCatalog, SharedDocument, connect
from .vectorstore import VectorStore, forget_clients, make_vector_store
from ..text.places import places_within  # loads jionlp's table only when a facts filter names a place
from ..text.zh import bigram_of_code, char_bigram_codes, char_bigrams, to_simplified, tokenize

log = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS documents (
    doc_id TEXT PRIMARY KEY, source TEXT NOT NULL, title TEXT, content_hash TEXT NOT NULL,
    text TEXT NOT NULL, metadata TEXT NOT NULL, n_articles INTEGER NOT NULL, n_chunks INTEGER NOT NULL,
    ingested_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS articles (
    doc_id TEXT NOT NULL, idx INTEGER NOT NULL, title TEXT NOT NULL, start INTEGER NOT NULL,
    body_start INTEGER NOT NULL, end INTEGER NOT NULL, byline TEXT, subtitle TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (doc_id, idx)
);
CREATE TABLE IF NOT EXISTS chunks (
    chunk_id TEXT PRIMARY KEY, doc_id TEXT NOT NULL, ordinal INTEGER NOT NULL, article INTEGER NOT NULL,
    title TEXT NOT NULL, text TEXT NOT NULL, start INTEGER NOT NULL, end INTEGER NOT NULL,
    source TEXT NOT NULL, tokens TEXT NOT NULL, metadata TEXT NOT NULL, subtitle TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS chunks_doc ON chunks (doc_id);
CREATE TABLE IF NOT EXISTS facts (
    doc_id TEXT NOT NULL, chunk_id TEXT NOT NULL, subject TEXT NOT NULL, year INTEGER, metric TEXT NOT NULL,
    value REAL NOT NULL, value_max REAL, unit TEXT NOT NULL, qualifier TEXT, span TEXT NOT NULL,
    title TEXT NOT NULL, source TEXT NOT NULL, base_value REAL NOT NULL, base_unit TEXT NOT NULL, context TEXT NOT NULL,
    period TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS facts_doc ON facts (doc_id);
CREATE INDEX IF NOT EXISTS facts_subject ON facts (subject);
"""
FACT_COLUMNS = (
    "doc_id", "chunk_id", "subject", "year", "metric", "value", "value_max", "unit", "qualifier", "span", "title", "source",
    "context", "period",
)
INSERT_FACT = (f"INSERT INTO facts ({', '.join(FACT_COLUMNS)}, base_value, base_unit) "
               f"VALUES ({','.join('?' * (len(FACT_COLUMNS) + 2))})")
DOCUMENT_TABLES = ("documents", "chunks", "articles", "facts")  # every table with rows of a document


def _fact_filter(subject: str | None, metric: str | None, year: int | None, subject_prefix: str | None) -> tuple[str, list]:
    """The WHERE clause and its arguments for the facts the filters select."""
    where, args = ["1=1"], []
    if subject_prefix and not any(ch in subject_prefix for ch in "*?[]"):
        where.append("subject GLOB ?")
        args.append(f"{subject_prefix}*")
    elif subject_prefix:
        subject = subject_prefix
    if subject:  # a province or city also selects the places inside it: 江苏 finds 南京市 and 江宁区
        names = [subject, *places_within(subject)]
        where.append("(" + " OR ".join(["subject LIKE ?"] * len(names)) + ")")
        args += [f"%{name}%" for name in names]
    if metric:
        where.append("(metric LIKE ? OR span LIKE ?)")
        args += [f"%{metric}%", f"%{metric}%"]
    if year is not None:
        where.append("year = ?")
        args.append(int(year))
    return " AND ".join(where), args


def _fact_row(f: Fact) -> list:
    return [*(getattr(f, col) for col in FACT_COLUMNS), f.base_value, f.base_unit]


FACTS_VERSION = "10"  # bump when the rule-based extractor changes, so existing indexes re-extract
# Bump when parsing or chunking changes what a file becomes: a stored document counts as unchanged only when
# both its content and the parser that read it are the same, so the next ingest of the same files redoes them.
PARSER_VERSION = "4"
COMMIT_CHUNKS = 512  # passages written per catalog transaction (each lands whole; readers see it at once)
EMBED_BATCH = 16  # passages per background embedding batch: a few seconds of e5, so a stop or a lock waits little
WRITE_LOCK = "write.lock"  # flock'ed by the one process (and thread) writing to the index
# Present from a writer's first vector write until its hold on the write lock ends: found by a later process, it
# means a writer died mid-write and the vector store may be torn (chromadb then crashes or fails on every read).
VECTORS_DIRTY = "vectors.dirty"
SYNC_INTERVAL_S = 1.0  # server mode: how often a reader asks the Chroma server whether another process wrote
OPENING_CHARS = 24  # how much of an untitled story's first line the documents list shows to tell it apart


@dataclass
class IngestReport:
    added: list[str] = field(default_factory=list)
    replaced: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    # Files whose name (or .jsonl id) another file already held, kept as documents of their own: (source, new id,
    # the id they would have replaced).
    renamed: list[tuple[str, str, str]] = field(default_factory=list)
    chunks_written: int = 0
    vectors_pending: int = 0  # passages left for the background embedder
    bytes_read: int = 0
    seconds: float = 0.0
    answerable_seconds: float = 0.0  # until every document was in the catalog and BM25: answerable, vectors aside
    warnings: list[str] = field(default_factory=list)

    def renamed_notes(self) -> list[str]:
        """One sentence a renamed file, for people (Chinese)."""
        return [f"{src} 与已有文档 {old} 同名但内容不同，已作为新文档 {new} 导入（不覆盖原文档）。"
                for src, new, old in self.renamed]

    def to_dict(self) -> dict:
        return {
            "added": len(self.added),
            "replaced": len(self.replaced),
            "unchanged": len(self.unchanged),
            "chunks_written": self.chunks_written,
            "vectors_pending": self.vectors_pending,
            "skipped": [str(s) for s in self.skipped],
            "renamed": [{"source": src, "doc_id": new, "instead_of": old} for src, new, old in self.renamed],
            "warnings": self.warnings,
            "seconds": round(self.seconds, 3),
            "answerable_seconds": round(self.answerable_seconds, 3),
        }


@dataclass
class _Prepared:
    """A document ready to write: its catalog rows (built where it was prepared, a worker process for a large
    ingest, so the writing process only writes them) and its passages' ids."""

    doc: SourceDocument
    record: dict
    chunk_ids: list[str]


def prepare(doc: SourceDocument, settings: Settings, extractor: FactExtractor) -> _Prepared:
    """What a document becomes before it is written: its articles, chunks, their BM25 tokens and its facts, as
    catalog rows. A pure function of the document and the settings, so it runs in any process."""
    default_title = doc.title or Path(doc.doc_id).stem
    parsed = parse_document(doc.text, default_title)
    meta = dict(doc.metadata)
    if doc.line:
        meta["line"] = doc.line
    chunks = chunk_document(
        parsed, doc.doc_id, doc.source, budget=settings.chunk_tokens, overlap=settings.chunk_overlap_sentences,
        metadata=meta,
    )
    tokens = [tokenize(c.index_text) for c in chunks]
    # Facts are read in simplified characters (subjects and metrics match questions in either script).
    facts = extractor.extract(parsed.folded(), [c.folded() for c in chunks], doc.doc_id, doc.source)
    return _Prepared(doc, _record(doc, parsed, chunks, tokens, facts), [c.chunk_id for c in chunks])


def _record(d: SourceDocument, parsed: ParsedDocument, chunks: list[Chunk], tokens: list[list[str]], facts: list[Fact]) -> dict:
    """A prepared document as the catalog's rows (the local tables and the shared store hold the same). Its
    ingestion time (document row, last column) is set when it is written."""
    return {
        "document": [d.doc_id, d.source, d.title, _parsed_hash(d), parsed.text,
                     json.dumps(d.metadata, ensure_ascii=False), len(parsed.articles), len(chunks), 0.0],
        "articles": [[i, a.title, a.start, a.body_start, a.end, a.byline, a.subtitle]
                     for i, a in enumerate(parsed.articles)],
        "chunks": [[c.chunk_id, c.ordinal, c.article, c.title, c.text, c.start, c.end, c.source, " ".join(t),
                    json.dumps(c.metadata, ensure_ascii=False), c.subtitle] for c, t in zip(chunks, tokens)],
        "facts": [_fact_row(f) for f in facts],
    }


# --- preparing documents in worker processes ----------------------------------------------
# Ingestion is CPU-bound (segmentation, fact rules): documents are prepared by one worker process per
# core while this process writes what they return, in order. A single-threaded process (the CLI, a script) forks its
# workers, which start at once and need no `if __name__ == "__main__"` guard; a server spawns them, since its other
# threads may hold locks at the moment of a fork.

PARALLEL_MIN_BYTES = 1_000_000  # below this much text, starting workers (about a second) costs more than it saves
WORKER_TASK_BYTES = 200_000  # text sent to a worker at a time: large enough to amortize the hand-over
WORKER_WINDOW = 4  # tasks in flight per worker, so a worker never waits and memory stays bounded
_WORKER: dict = {}


def _start_worker(settings: Settings, writer_pid: int, inherited_lock: int | None) -> None:
    """A worker's start. A forked worker closes its copy of the writer's locked file: an flock belongs to every copy,
    so a worker outliving a writer killed with -9 would keep the index locked. And every worker dies with its
    writer (Linux), rather than wait forever for work that will not come."""
    if inherited_lock is not None:
        os.close(inherited_lock)
    _die_with_parent(writer_pid)
    _WORKER.update(settings=settings, extractor=make_extractor(settings))


def _die_with_parent(parent_pid: int) -> None:
    try:
        import ctypes
        import signal

        PR_SET_PDEATHSIG = 1  # noqa: N806 - <linux/prctl.h>
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):  # not Linux: a worker then ends when its writer's pipe closes, if ever
        pass
    if os.getppid() != parent_pid:  # the writer died before the signal was asked for
        os._exit(0)


def _prepare_in_worker(docs: list[SourceDocument]) -> list[_Prepared]:
    return [prepare(d, _WORKER["settings"], _WORKER["extractor"]) for d in docs]


def _ingest_workers(settings: Settings) -> int:
    return settings.ingest_workers or max(1, min(os.cpu_count() or 1, 8))


def _in_order(pool, groups: Iterable[list[SourceDocument]], window: int):
    """Each group's prepared documents, in the order given, with at most `window` groups in flight."""
    from collections import deque

    flying: deque = deque()
    for group in groups:
        flying.append(pool.submit(_prepare_in_worker, group))
        if len(flying) >= window:
            yield from flying.popleft().result()
    while flying:
        yield from flying.popleft().result()


def _grouped(docs: Iterable[SourceDocument], task_bytes: int):
    group, size = [], 0
    for d in docs:
        group.append(d)
        size += len(d.text)
        if size >= task_bytes:
            yield group
            group, size = [], 0
    if group:
        yield group


# --- the two BM25 indexes, derived from the catalog ---------------------------------------------

def _in_docs(column: str, doc_ids: list[str] | None) -> tuple[str, list[str]]:
    """A WHERE clause keeping the rows of these documents (all rows when None)."""
    if doc_ids is None:
        return "", []
    return f"WHERE {column} IN ({','.join('?' * len(doc_ids))})", list(doc_ids)


def _passage_bm25(db: sqlite3.Connection, gen: int, doc_ids: list[str] | None = None,
                  base: BM25Index | None = None) -> BM25Index:
    """BM25 over the passages' jieba tokens (as prepared at ingestion), of every document or of these (a delta
    scored with the base's statistics). The documents' hashes come in the same statement as their rows."""
    where, args = _in_docs("c.doc_id", doc_ids)
    rows = db.execute("SELECT c.chunk_id, c.tokens, c.doc_id, d.content_hash FROM chunks c "
                      f"JOIN documents d ON d.doc_id = c.doc_id {where} ORDER BY c.doc_id, c.ordinal", args)
    sources = Sources({}, [])

    def read():
        for chunk_id, tokens, doc_id, content_hash in rows:
            sources.hashes[doc_id] = content_hash
            sources.row_docs.append(doc_id)
            yield chunk_id, tokens.split(" ") if tokens else []

    return BM25Index.build(read(), gen, sources, base)


def _article_bm25(db: sqlite3.Connection, gen: int, doc_ids: list[str] | None = None,
                  base: BM25Index | None = None) -> BM25Index:
    """BM25 over the character bigrams of whole articles (headline, subtitle and body): what the article knows
    as a whole, robust to how jieba happens to cut the question's words."""
    keys, codes = [], []
    sources = Sources({}, [])
    where, args = _in_docs("a.doc_id", doc_ids)
    for doc_id, idx, title, subtitle, body, content_hash in db.execute(
        "SELECT a.doc_id, a.idx, a.title, a.subtitle, substr(d.text, a.body_start + 1, a.end - a.body_start), "
        f"d.content_hash FROM articles a JOIN documents d ON d.doc_id = a.doc_id {where} ORDER BY a.doc_id, a.idx",
        args,
    ):  # one article's text at a time: only the codes are kept
        keys.append(article_key(doc_id, idx))
        codes.append(char_bigram_codes(scoped_text(title, subtitle, body)))
        sources.hashes[doc_id] = content_hash
        sources.row_docs.append(doc_id)
    return BM25Index.build_from_codes(keys, codes, bigram_of_code, gen, sources, base)


# A small ingest or deletion lays its documents over the saved BM25 (LayeredBM25) instead of rebuilding it from the
# whole catalog; once the rows laid over (new ones and masked old ones) pass this share of the saved index's rows,
# the index is rebuilt and saved, which refreshes every token's rarity. The layer keeps the saved idf of every token
# it knows (a token only the new rows hold is weighed from their own count). Measured on crud_news_dev with 400
# CMRC articles laid over it (1,116 passages, 2.9%): against a rebuild, 1 of 342 questions had another first
# passage, 4 another top 5, none another answer (hit@1 0.863 laid over, 0.860 rebuilt).
BM25_DELTA_SHARE = 0.05


# Each kind of BM25: its folder in the index (a link to its saved version) and how it is built from the catalog.
BM25_KINDS: dict[str, tuple[str, Callable[..., BM25Index]]] = {
    "bm25": ("bm25", _passage_bm25),
    "articles": ("bm25_articles", _article_bm25),
}


def _save_bm25(index_dir: str, kind: str, gen: int, writer_pid: int) -> None:
    """In a worker process, for the writer that holds the index's lock: build one BM25 from the committed catalog
    (generation `gen`) and save it where the writer loads it. A worker whose writer died meanwhile (kill -9) saves
    nothing: the lock is no longer held for it."""
    db = sqlite3.connect(f"file:{index_dir}/catalog.sqlite3?mode=ro", uri=True)
    try:
        folder, build = BM25_KINDS[kind]
        index = build(db, gen)
        if os.getppid() == writer_pid:
            index.save(Path(index_dir) / folder)
    finally:
        db.close()


_OPENING = threading.Lock()


def article_key(doc_id: str, article: int) -> str:
    """One id for an article across the catalog and the article index."""
    return f"{doc_id}#{article}"


def split_article_key(key: str) -> tuple[str, int]:
    doc_id, _, article = key.rpartition("#")
    return doc_id, int(article)


def _same_file(a: str, b: str) -> bool:
    try:
        return Path(a).resolve() == Path(b).resolve()
    except OSError:
        return a == b


def _parsed_hash(doc: SourceDocument) -> str:
    """What the catalog records of a document: its content as read by this parser version."""
    return f"p{PARSER_VERSION}:{doc.content_hash}"


# Vectors of an embedder that no longer exists: the feature-hashing embedder's (the default before issue 23, 666 MB
# of crud_news_dev's index). reconcile() drops them from a local store.
RETIRED_COLLECTIONS = "chunks_hashing-"


def _collection_name(fingerprint: str) -> str:
    return "chunks_" + re.sub(r"[^a-zA-Z0-9_-]", "_", fingerprint)[:50]


class _MarkedWrites:
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


class Index:
    """Open with Index.open(settings); ingest() writes, the search methods read."""

    def __init__(self, settings: Settings, index_dir: Path, embedder: Embedder):
        self.settings = settings
        self.dir = index_dir
        self.embedder = embedder
        self._local = threading.local()  # each thread reads through its own SQLite connection
        self._connections: list[sqlite3.Connection] = []
        self._connecting = threading.Lock()
        with self.db:  # WAL: readers see the last committed batch while a writer works, and never block it
            self.db.execute("PRAGMA journal_mode=WAL")
        columns = {r[1] for r in self.db.execute("PRAGMA table_info(facts)")}
        if columns and not {"context", "period"} <= columns:  # facts are derived data: rebuild an older table
            with self.db:
                self.db.execute("DROP TABLE facts")
                self.db.execute("DELETE FROM meta WHERE key='facts_version'")
        for table in ("articles", "chunks"):  # indexes written before subtitles were kept
            have = {r[1] for r in self.db.execute(f"PRAGMA table_info({table})")}
            if have and "subtitle" not in have:
                self.db.execute(f"ALTER TABLE {table} ADD COLUMN subtitle TEXT NOT NULL DEFAULT ''")
        self.db.executescript(SCHEMA)
        self._vectors: VectorStore | None = None
        # ASSISTANT_EMBEDDING=none: BM25 alone; no vector store, nothing pending, nothing to repair.
        self.lexical_only = settings.embedding == "none"
        self._bm25s: dict[str, BM25Index | None] = dict.fromkeys(BM25_KINDS)  # by kind, as last loaded
        self._dense_generation = -1
        # One thread at a time loads a newer BM25; meanwhile other readers keep answering from the one they have.
        self._loading = {kind: threading.Lock() for kind in BM25_KINDS}
        self.fact_extractor: FactExtractor = make_extractor(settings)
        self._writer = threading.local()  # this thread's hold on the write lock: writes nest
        # Server mode: the Chroma server's catalog is the truth, this catalog a copy kept by sync().
        self.shared: SharedCatalog | None = None
        if settings.chroma_host:
            self.shared = SharedCatalog(connect(settings.chroma_host, settings.chroma_port))
        self._synced_at = float("-inf")

    @property
    def db(self) -> sqlite3.Connection:
        """This thread's connection to the catalog (opened on first use): concurrent questions never share a cursor,
        and each reads a committed state."""
        conn = getattr(self._local, "db", None)
        if conn is None:
            conn = sqlite3.connect(str(self.dir / "catalog.sqlite3"), check_same_thread=False, timeout=30)
            with self._connecting:
                self._connections.append(conn)
            self._local.db = conn
        return conn

    # --- one writer at a time ------------------------------------------------------------

    @contextmanager
    def writing(self):
        """Hold the index's write lock: one writer at a time, across processes and threads (an flock on
        write.lock, which the system releases when a writer dies, even by kill -9). Raises IndexBusy at once when
        another writer holds it; readers never take it."""
        if getattr(self._writer, "depth", 0):
            self._writer.depth += 1
            try:
                yield
            finally:
                self._writer.depth -= 1
            return
        fd = os.open(self.dir / WRITE_LOCK, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = os.pread(fd, 64, 0).decode("ascii", "replace").strip() or "?"
                raise IndexBusy(f"另一个导入或删除正在写入这个索引（进程 {holder}），请等它结束后再试。") from None
            os.ftruncate(fd, 0)
            os.pwrite(fd, str(os.getpid()).encode(), 0)
            self._writer.depth = 1
            self._writer.fd = fd
            try:
                yield
            finally:
                self._writer.depth, self._writer.fd = 0, None
                if getattr(self._writer, "dirty", False):  # every vector write of this hold has returned
                    (self.dir / VECTORS_DIRTY).unlink(missing_ok=True)
                    self._writer.dirty = False
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    def _save_if_free(self, bm25: BM25Index, path: Path) -> None:
        """Save a rebuilt BM25 under the write lock; while another writer works, a reader keeps its rebuild in memory
        and leaves the saving to that writer (never racing its save)."""
        try:
            with self.writing():
                bm25.save(path)
        except IndexBusy:
            pass

    # --- opening -------------------------------------------------------------------------

    @classmethod
    def open(cls, settings: Settings, index_dir: Path | None = None, create: bool = False) -> "Index":
        index_dir = Path(index_dir or settings.index_dir)
        if not (index_dir / "catalog.sqlite3").exists():
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
                    self._vectors = make_vector_store(self.settings, self.dir, _collection_name(self.embedder.fingerprint))
                if self._vectors is None:
                    if (self.dir / VECTORS_DIRTY).exists():
                        torn = self._clear_if_torn()
                    store = make_vector_store(self.settings, self.dir, _collection_name(self.embedder.fingerprint))
                    self._vectors = _MarkedWrites(store, self._mark_dirty)
            if torn:
                self._refill_vectors()
        return self._vectors

    # --- a torn vector store -------------------------------------------------------------

    def _mark_dirty(self) -> None:
        if not getattr(self._writer, "dirty", False):
            (self.dir / VECTORS_DIRTY).write_text(str(os.getpid()), encoding="ascii")
            self._writer.dirty = True

    def _clear_if_torn(self, known_torn: bool = False) -> bool:
        """After a writer died mid-write (or a read failed): check the store in a child process (chromadb can crash
        the process reading a torn segment), and if it is torn, remove it; True if it was. Nothing is done while
        another writer is at work."""
        try:
            with self.writing():
                chroma = self.dir / "chroma"
                torn = known_torn or (chroma.exists() and not store_is_whole(chroma, _collection_name(self.embedder.fingerprint)))
                if torn:
                    log.warning("the vector store in %s is torn; rebuilding it from the catalog", chroma)
                    forget_clients(chroma)
                    shutil.rmtree(chroma, ignore_errors=True)
                (self.dir / VECTORS_DIRTY).unlink(missing_ok=True)
                self._writer.dirty = False
                return torn
        except IndexBusy:
            return False

    def _refill_vectors(self) -> None:
        """The vectors of a rebuilt store, from the catalog: at once for an inline embedder (a slow one's follow in
        the background, as after any ingest)."""
        if self.embedder.inline:
            try:
                with self.writing():
                    self.embed_pending()
            except IndexBusy:
                pass  # the writer that took over reconciles them

    def _meta(self, key: str, default: str | None = None) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return row[0] if row else default

    @property
    def generation(self) -> int:
        return int(self._meta("generation", "0"))

    def close(self) -> None:
        with self._connecting:
            for conn in self._connections:
                conn.close()
            self._connections.clear()
        self._local = threading.local()

    # --- consistency ---------------------------------------------------------------------

    def reconcile(self) -> dict:
        """Make the vector store and BM25 match the catalog: drop orphans, embed what is missing. (On a shared server,
        vectors that no catalog record names may be another process's, written a moment ago: they are left.)"""
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
        self._build_bm25(None)
        self.refresh_facts()
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
        with lock if lock is not None else nullcontext(), self.writing():
            self._drop_retired()
        sent: deque[list[dict]] = deque()  # the rows of the batches in flight, in order

        def batches() -> Iterable[list[str]]:
            for i in range(0, len(missing), batch_size):
                if stop is not None and stop():
                    return
                rows = self._rows(missing[i : i + batch_size])  # a chunk deleted meanwhile is simply gone
                sent.append(rows)
                yield [to_simplified(scoped_text(r["title"], r["subtitle"], r["text"])) for r in rows]

        done = 0
        with document_vectors(self.settings, self.embedder, _die_with_parent) as embed:
            for vectors in embed(batches()):
                rows = sent.popleft()
                with lock if lock is not None else nullcontext(), self.writing():
                    # A passage deleted or replaced while it was embedded gets no vector (it would be an orphan).
                    live = self._live_chunks([r["chunk_id"] for r in rows])
                    keep = [n for n, r in enumerate(rows) if r["chunk_id"] in live]
                    if keep:
                        self.vectors.upsert(  # the catalog has the rest: a title and a path a vector would repeat
                            [rows[n]["chunk_id"] for n in keep], vectors[keep], [{"doc_id": rows[n]["doc_id"]} for n in keep],
                            documents=[rows[n]["text"] for n in keep] if self.shared is not None else None,
                        )
                done += len(rows)
                if progress:
                    progress(done, len(missing))
                if stop is not None and stop():
                    break
        return done

    def _live_chunks(self, chunk_ids: list[str]) -> set[str]:
        marks = ",".join("?" * len(chunk_ids))
        return {r[0] for r in self.db.execute(f"SELECT chunk_id FROM chunks WHERE chunk_id IN ({marks})", chunk_ids)}

    def _fresh(self, kind: str, rebuild: bool = True) -> BM25Index | None:
        """The BM25 of `kind` (a key of BM25_KINDS) for the catalog's generation: loaded from disk when a writer saved
        it; else the saved one with the documents changed since laid over it, while they are few; else rebuilt from
        the catalog and saved (None instead when not `rebuild`). While one thread loads it, other readers answer from
        the one they have (it is consistent with an earlier committed catalog); the writer waits for the new one."""
        writing = bool(getattr(self._writer, "depth", 0))
        if not writing:
            self.sync()
        current = self._bm25s[kind]
        if current is not None and current.generation == self.generation:
            return current
        lock = self._loading[kind]
        if not lock.acquire(blocking=current is None or writing or not rebuild):
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
        not say what it was built from or the change has outgrown BM25_DELTA_SHARE (then it is rebuilt)."""
        sources = base.sources()
        if sources is None:
            return None
        now = dict(self.db.execute("SELECT doc_id, content_hash FROM documents"))
        changed = [d for d, h in now.items() if sources.hashes.get(d) != h]
        stale = set(changed).union(d for d in sources.hashes if d not in now)
        masked = [i for i, d in enumerate(sources.row_docs) if d in stale]
        limit = BM25_DELTA_SHARE * len(base.ids)
        if len(masked) > limit or len(changed) > limit:
            return None
        _, build = BM25_KINDS[kind]
        delta = build(self.db, gen, changed, base) if changed else BM25Index.build([], gen)
        if len(delta.ids) + len(masked) > limit:
            return None
        return LayeredBM25(base, delta, masked, gen)

    def _ensure_bm25(self) -> BM25Index:
        return self._fresh("bm25")

    def _ensure_article_bm25(self) -> BM25Index:
        return self._fresh("articles")

    def _build_bm25(self, pool) -> None:
        """Both BM25 indexes of the catalog as committed. With worker processes at hand, one of them builds and saves
        the article index while this process builds the passage index (together they are a third of a large
        ingest's time)."""
        pending = None
        if pool is not None and self._fresh("articles", rebuild=False) is None:  # not a small change: rebuild
            pending = pool.submit(_save_bm25, str(self.dir), "articles", self.generation, os.getpid())
        self._ensure_bm25()
        if pending is not None:
            try:
                pending.result()
            except Exception:  # noqa: BLE001 - a worker that failed leaves the build to this process
                log.warning("building the article BM25 in a worker failed; building it here", exc_info=True)
        self._ensure_article_bm25()  # loads what the worker saved

    # --- ingestion -----------------------------------------------------------------------

    def _prepare(self, doc: SourceDocument) -> _Prepared:
        return prepare(doc, self.settings, self.fact_extractor)

    def _commit(self, batch: list[_Prepared], report: IngestReport) -> None:
        """Write a batch of documents to the catalog in one transaction, then drop the vectors of passages that are
        gone. The new passages' vectors follow (embed_pending): until then, BM25 alone finds them."""
        if not batch:
            return
        old: dict[str, set[str]] = {}
        for p in batch:
            old[p.doc.doc_id] = {
                r[0] for r in self.db.execute("SELECT chunk_id FROM chunks WHERE doc_id=?", (p.doc.doc_id,))
            }
        fresh = [c for p in batch for c in p.chunk_ids if c not in old[p.doc.doc_id]]
        now = time.time()
        records = [p.record for p in batch]
        for r in records:
            r["document"][-1] = now
        if self.shared is not None:  # the server first: it is the truth every process syncs from
            self.shared.publish([SharedDocument(r["document"][0], r["document"][3], r) for r in records])
        with self.db:  # one transaction: every document of the batch lands whole, or none does
            for r in records:
                self._write_record(r)
            self._set_meta("generation", self.generation + 1)
        stale = sorted(set().union(*old.values()) - {c for p in batch for c in p.chunk_ids})
        if stale:
            self.vectors.delete(stale)
        self._published()
        report.chunks_written += len(fresh)

    def _write_record(self, r: dict) -> None:
        """Replace one document's rows with a record (inside the caller's transaction)."""
        doc_id = r["document"][0]
        self._delete_rows(doc_id, ("chunks", "articles", "facts"))
        self.db.execute("INSERT OR REPLACE INTO documents VALUES (?,?,?,?,?,?,?,?,?)", r["document"])
        self.db.executemany("INSERT INTO articles VALUES (?,?,?,?,?,?,?,?)", [(doc_id, *a) for a in r["articles"]])
        self.db.executemany("INSERT OR REPLACE INTO chunks VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                            [(c[0], doc_id, *c[1:]) for c in r["chunks"]])
        self.db.executemany(INSERT_FACT, r["facts"])

    def _delete_rows(self, doc_id: str, tables: tuple[str, ...] = DOCUMENT_TABLES) -> int:
        """Delete a document's rows from these tables (inside the caller's transaction); how many documents rows."""
        deleted = 0
        for table in tables:
            cur = self.db.execute(f"DELETE FROM {table} WHERE doc_id=?", (doc_id,))
            deleted += cur.rowcount if table == "documents" else 0
        return deleted

    def _set_meta(self, key: str, value) -> None:
        self.db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, str(value)))

    # --- server mode: the shared catalog -------------------------------------------------

    def _published(self) -> None:
        """After this process changed the shared store: bump its generation, and note that this catalog has it."""
        if self.shared is None:
            return
        generation = self.shared.bump()
        with self.db:
            self._set_meta("shared_generation", generation)

    def sync(self, force: bool = False) -> bool:
        """In server mode, bring this process's catalog up to the shared one (at most once per SYNC_INTERVAL_S
        unless forced): documents added, changed or removed by any process since. True if anything changed.
        Skipped while this index is being written here (the writer is up to date by construction)."""
        if self.shared is None:
            return False
        now = time.monotonic()
        if not force and now - self._synced_at < SYNC_INTERVAL_S:
            return False
        self._synced_at = now
        remote = self.shared.generation()
        if str(remote) == self._meta("shared_generation"):
            return False
        try:
            with self.writing():
                theirs = self.shared.hashes()
                ours = {r[0]: r[1] for r in self.db.execute("SELECT doc_id, content_hash FROM documents")}
                gone = [d for d in ours if d not in theirs]
                records = self.shared.fetch(sorted(d for d, h in theirs.items() if ours.get(d) != h))
                with self.db:
                    for doc_id in gone:
                        self._delete_rows(doc_id)
                    for shared in records:
                        self._write_record(shared.record)
                    self._set_meta("shared_generation", remote)
                    if gone or records:
                        self._set_meta("generation", self.generation + 1)
                return bool(gone or records)
        except IndexBusy:
            return False


    def ingest(
        self,
        paths: Iterable[Path],
        progress: Callable[[int, int, str], None] | None = None,
    ) -> IngestReport:
        """Ingest files and folders; unchanged documents are skipped, changed ones replace their old chunks.
        Raises IndexBusy when another writer is at work on this index."""
        with self.writing():
            return self._ingest(paths, progress)

    def _ingest(self, paths: Iterable[Path], progress: Callable[[int, int, str], None] | None) -> IngestReport:
        started = time.perf_counter()
        report = IngestReport()
        files, skipped = discover([Path(p) for p in paths])
        self.reconcile()  # repair whatever an interrupted earlier run left behind
        report.skipped.extend(skipped)
        known = {r[0]: (r[1], r[2]) for r in self.db.execute("SELECT doc_id, content_hash, source FROM documents")}
        seen_in_run: set[str] = set()

        def changed() -> Iterable[SourceDocument]:
            """The documents to (re)write, in reading order; unchanged and unreadable ones are reported here."""
            for n, path in enumerate(files, start=1):
                try:
                    report.bytes_read += path.stat().st_size
                except OSError:
                    pass
                for item in read_file(path, max_bytes=int(self.settings.max_file_mb * 1e6)):
                    if isinstance(item, Skipped):
                        report.skipped.append(item)
                        continue
                    digest = _parsed_hash(item)  # of its content: the same whatever id it ends up with
                    item = self._own_id(item, digest, known, report)
                    if known.get(item.doc_id, ("",))[0] == digest and item.doc_id not in seen_in_run:
                        report.unchanged.append(item.doc_id)
                        continue
                    (report.replaced if item.doc_id in known else report.added).append(item.doc_id)
                    known[item.doc_id] = (digest, item.source)
                    seen_in_run.add(item.doc_id)
                    yield item
                if progress:
                    progress(n, len(files), str(path))

        batch: list[_Prepared] = []
        batch_chunks = 0
        with self._preparing(files) as (prepared_docs, pool):
            for prepared in prepared_docs(changed()):
                item = prepared.doc
                if not prepared.chunk_ids:
                    (report.replaced if item.doc_id in report.replaced else report.added).remove(item.doc_id)
                    report.skipped.append(Skipped(item.source, "规范化后没有剩下正文", item.line))
                    continue
                # A later line with the same id wins; drop the earlier one still waiting in the batch.
                batch = [b for b in batch if b.doc.doc_id != item.doc_id]
                batch.append(prepared)
                batch_chunks += len(prepared.chunk_ids)
                if batch_chunks >= COMMIT_CHUNKS:
                    self._commit(batch, report)
                    batch, batch_chunks = [], 0
            self._commit(batch, report)
            self._build_bm25(pool)
        report.answerable_seconds = time.perf_counter() - started
        if self.embedder.inline:  # a fast embedder's vectors now, in this run; a slow one's in the background
            self.embed_pending(batch_size=COMMIT_CHUNKS)
        if not self._meta("facts_version"):
            with self.db:
                self._set_meta("facts_version", f"{getattr(self.fact_extractor, 'name', 'rules')}-{FACTS_VERSION}")
        report.warnings.extend(getattr(self.fact_extractor, "warnings", []))
        if not self.embedder.inline:
            report.vectors_pending = len(self.pending_vectors())
        report.seconds = time.perf_counter() - started
        return report

    @contextmanager
    def _preparing(self, files: list[Path]):
        """A function from documents to prepared documents, in order, and the worker pool: in worker processes for a
        large ingest with the rule-based fact extractor (an LLM extractor reports warnings from this process), else
        here (the pool is None)."""
        try:
            total = sum(f.stat().st_size for f in files)
        except OSError:
            total = 0
        workers = _ingest_workers(self.settings)
        if workers < 2 or total < PARALLEL_MIN_BYTES or self.settings.facts_extractor != "rules":
            yield (lambda docs: (self._prepare(d) for d in docs)), None
            return
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        method = "fork" if threading.active_count() == 1 else "spawn"
        lock = getattr(self._writer, "fd", None) if method == "fork" else None  # a spawned worker has no copy
        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context(method), initializer=_start_worker,
                                 initargs=(self.settings, os.getpid(), lock)) as pool:
            yield (lambda docs: _in_order(pool, _grouped(docs, WORKER_TASK_BYTES), workers * WORKER_WINDOW)), pool

    @staticmethod
    def _own_id(item: SourceDocument, digest: str, known: dict[str, tuple[str, str]],
                report: IngestReport) -> SourceDocument:
        """The document's id, unless another file holds it: a file's id is its name (a .jsonl line's, its "id"), and
        y2024/report.txt must not replace y2023/report.txt. The same file again, or the same text from wherever,
        keeps the id; another file's different text gets the id with its folder ("y2024/report.txt") or file
        ("a1@more.jsonl"), numbered if that is taken too, and the report names it."""
        holder = known.get(item.doc_id)
        if holder is None or holder[0] == digest or _same_file(holder[1], item.source):
            return item
        source = Path(item.source)
        first = f"{item.doc_id}@{source.name}" if item.line is not None else f"{source.parent.name}/{item.doc_id}"
        for n in range(1, 10_000):
            candidate = first if n == 1 else f"{first} ({n})"
            other = known.get(candidate)
            if other is None or _same_file(other[1], item.source):
                report.renamed.append((item.source, candidate, item.doc_id))
                return replace(item, doc_id=candidate)
        raise AssertionError("unreachable: 10,000 files of one name in one folder")

    def delete_document(self, doc_id: str) -> bool:
        with self.writing():
            return self._delete_document(doc_id)

    def _delete_document(self, doc_id: str) -> bool:
        self.sync(force=True)
        ids = [r[0] for r in self.db.execute("SELECT chunk_id FROM chunks WHERE doc_id=?", (doc_id,))]
        if self.shared is not None:  # the record first: a reader that still sees it finds all its passages
            self.shared.remove([doc_id])
        with self.db:
            deleted = self._delete_rows(doc_id)
            self._set_meta("generation", self.generation + 1)
        if ids:
            self.vectors.delete(ids)
        self._published()
        self._build_bm25(None)
        return deleted > 0

    # --- reading -------------------------------------------------------------------------

    def _pending(self, chunks: int, vectors: int) -> int:
        return 0 if self.lexical_only else max(0, chunks - vectors)

    def pending_count(self) -> int:
        """How many passages wait for their vectors (a count, unlike pending_vectors)."""
        if self.lexical_only:
            return 0
        self.sync()
        return self._pending(self.db.execute("SELECT COUNT(*) FROM chunks").fetchone()[0], self.vectors.count())

    def status(self) -> dict:
        self.sync()
        q = lambda sql: self.db.execute(sql).fetchone()[0]  # noqa: E731
        chunks, vectors = q("SELECT COUNT(*) FROM chunks"), self.vectors.count()
        return {
            "documents": q("SELECT COUNT(*) FROM documents"),
            "articles": q("SELECT COUNT(*) FROM articles"),
            "chunks": chunks,
            "facts": q("SELECT COUNT(*) FROM facts"),
            "vectors": vectors,
            "vectors_pending": self._pending(chunks, vectors),
            "embedding": self.embedder.fingerprint,
            "vector_store": "none" if self.lexical_only else self.settings.vector_store,
            **({"chroma_server": f"{self.settings.chroma_host}:{self.settings.chroma_port}"} if self.shared else {}),
            "index_dir": str(self.dir),
        }

    def _write_facts(self, doc_id: str, facts: list[Fact]) -> None:
        """Replace a document's facts (inside the caller's transaction)."""
        self._delete_rows(doc_id, ("facts",))
        self.db.executemany(INSERT_FACT, [_fact_row(f) for f in facts])

    def refresh_facts(self) -> int:
        """Re-extract every document's facts from the catalog (after the extractor changed); returns the count."""
        from ..ingest.articles import Article, ParsedDocument

        version = f"{getattr(self.fact_extractor, 'name', 'rules')}-{FACTS_VERSION}"
        if self._meta("facts_version") == version:
            return 0
        total = 0
        with self.db:
            for doc_id, source, text in self.db.execute("SELECT doc_id, source, text FROM documents").fetchall():
                arts = [
                    Article(title=r[0], start=r[1], body_start=r[2], end=r[3], byline=r[4], subtitle=r[5])
                    for r in self.db.execute(
                        "SELECT title, start, body_start, end, byline, subtitle FROM articles WHERE doc_id=? ORDER BY idx",
                        (doc_id,),
                    )
                ]
                chunks = [
                    Chunk(chunk_id=r[0], doc_id=doc_id, source=source, title=r[1], text=r[2], start=r[3], end=r[4],
                          article=r[5], ordinal=r[6], subtitle=r[7])
                    for r in self.db.execute(
                        "SELECT chunk_id, title, text, start, end, article, ordinal, subtitle FROM chunks "
                        "WHERE doc_id=? ORDER BY ordinal",
                        (doc_id,),
                    )
                ]
                parsed = ParsedDocument(text=text, articles=arts).folded()
                facts = self.fact_extractor.extract(parsed, [c.folded() for c in chunks], doc_id, source)
                self._write_facts(doc_id, facts)
                total += len(facts)
            self._set_meta("facts_version", version)
        return total

    def facts(self, subject: str | None = None, metric: str | None = None, year: int | None = None,
              subject_prefix: str | None = None, limit: int | None = None, offset: int = 0) -> list[Fact]:
        """Stored facts, filtered by subject and metric (substrings) and year; `subject_prefix` selects the subjects
        that start with it through the subject index (a substring filter reads every fact: 65 ms at 100k passages).
        `limit` and `offset` give one page of them, in the same order."""
        self.sync()
        where, args = _fact_filter(subject, metric, year, subject_prefix)
        sql = f"SELECT {', '.join(FACT_COLUMNS)} FROM facts WHERE {where} ORDER BY doc_id, rowid"
        if limit is not None:
            sql += " LIMIT ? OFFSET ?"
            args += [int(limit), max(0, int(offset))]
        # Rows were validated when they were written: building them unchecked is 4 times faster.
        return [Fact.model_construct(**dict(zip(FACT_COLUMNS, r))) for r in self.db.execute(sql, args)]

    def count_facts(self, subject: str | None = None, metric: str | None = None, year: int | None = None) -> int:
        """How many stored facts the same filters select."""
        self.sync()
        where, args = _fact_filter(subject, metric, year, None)
        return self.db.execute(f"SELECT count(*) FROM facts WHERE {where}", args).fetchone()[0]

    def is_empty(self) -> bool:
        self.sync()
        return self.db.execute("SELECT 1 FROM chunks LIMIT 1").fetchone() is None

    def documents(self) -> list[DocumentInfo]:
        self.sync()
        titles: dict[str, list[str]] = {}
        listed = self.db.execute(
            "SELECT a.doc_id, a.title, a.subtitle, substr(d.text, a.body_start + 1, ?) FROM articles a "
            "JOIN documents d ON d.doc_id = a.doc_id ORDER BY a.doc_id, a.idx",
            (OPENING_CHARS,),
        )
        for doc_id, title, subtitle, opening in listed:
            heading = full_heading(title, subtitle)
            if not title and not subtitle:  # tell untitled stories apart by how they open, marked as such
                heading += f"开头：{opening.splitlines()[0] if opening else ''}…"
            titles.setdefault(doc_id, []).append(heading)
        rows = self.db.execute(
            "SELECT doc_id, source, title, n_articles, n_chunks FROM documents ORDER BY doc_id"
        ).fetchall()
        return [DocumentInfo(*r, article_titles=titles.get(r[0], [])) for r in rows]

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

    def _rows(self, chunk_ids: list[str]) -> list[dict]:
        if not chunk_ids:
            return []
        cols = ("chunk_id", "doc_id", "ordinal", "article", "title", "subtitle", "text", "start", "end", "source", "metadata")
        out: dict[str, dict] = {}
        for i in range(0, len(chunk_ids), 500):
            part = chunk_ids[i : i + 500]
            marks = ",".join("?" * len(part))
            for r in self.db.execute(f"SELECT {', '.join(cols)} FROM chunks WHERE chunk_id IN ({marks})", part):
                row = dict(zip(cols, r))
                row["metadata"] = json.loads(row["metadata"])
                out[row["chunk_id"]] = row
        return [out[c] for c in chunk_ids if c in out]

    def passages(self, chunk_ids: list[str], score: float = 1.0) -> list[Passage]:
        """These chunks as citable passages, in the order given (unknown ids are left out)."""
        return [
            Passage(chunk_id=r["chunk_id"], doc_id=r["doc_id"], source=r["source"], title=r["title"], text=r["text"],
                    score=score, start=r["start"], end=r["end"], article=r["article"], metadata=r["metadata"],
                    subtitle=r["subtitle"])
            for r in self._rows(chunk_ids)
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

    def search_bm25(self, query: str, k: int) -> list[tuple[str, float]]:
        return self._ensure_bm25().search(tokenize(query), k)

    def bm25_scores(self, tokens: list[str], chunk_ids: list[str]) -> dict[str, float]:
        """The passage BM25 scores of these chunks for a tokenized query."""
        return self._ensure_bm25().scores_for(tokens, chunk_ids)

    def rank_bm25(self, query: str, k: int, include: list[str]) -> list[str]:
        """Chunk ids by passage BM25: the top k, and any of `include` that match the query at all."""
        return self._ensure_bm25().rank(tokenize(query), k, include)

    def search_articles(self, query: str, k: int) -> list[tuple[str, float]]:
        """Whole articles by the BM25 of their character bigrams: (article_key, score), best first."""
        return self._ensure_article_bm25().search(char_bigrams(query), k)

    def article_idf(self, query: str) -> dict[str, float]:
        """The weight of each of the query's character bigrams among whole articles (rare bigrams weigh most)."""
        return self._ensure_article_bm25().idf(char_bigrams(query))

    def chunk_articles(self, chunk_ids: list[str]) -> dict[str, str]:
        """The article of each of these chunks (chunk_id -> article_key), without reading their text."""
        out: dict[str, str] = {}
        for i in range(0, len(chunk_ids), 500):
            part = chunk_ids[i : i + 500]
            marks = ",".join("?" * len(part))
            for cid, doc_id, article in self.db.execute(
                f"SELECT chunk_id, doc_id, article FROM chunks WHERE chunk_id IN ({marks})", part
            ):
                out[cid] = article_key(doc_id, article)
        return out

    def article_chunks(self, keys: list[str]) -> dict[str, list[str]]:
        """The chunk ids of these articles (article_key -> ids in reading order)."""
        out: dict[str, list[str]] = {}
        pairs = [split_article_key(key) for key in keys]
        for i in range(0, len(pairs), 400):
            part = pairs[i : i + 400]
            where = " OR ".join("(doc_id=? AND article=?)" for _ in part)
            args = [x for pair in part for x in pair]
            for cid, doc_id, article in self.db.execute(
                f"SELECT chunk_id, doc_id, article FROM chunks WHERE {where} ORDER BY doc_id, ordinal", args
            ):
                out.setdefault(article_key(doc_id, article), []).append(cid)
        return out

    def search_dense(self, query: str, k: int) -> list[tuple[str, float]]:
        generation = self.generation
        if generation != self._dense_generation:  # another writer may have changed the vectors
            self.vectors.forget_count()
            self._dense_generation = generation
        vector = self.embedder.embed_query(to_simplified(query))
        try:
            return self.vectors.query(vector, k)
        except Exception as exc:  # a torn store fails every read: rebuilt if no writer is at work, else lexical only
            log.warning("the vector store failed a query (%s: %s)", type(exc).__name__, (str(exc).splitlines() or [""])[0][:200])
            with _OPENING:
                if not self._clear_if_torn(known_torn=True):
                    return []
                self._vectors = None
            self._refill_vectors()
            return self.vectors.query(vector, k)
