"""Ingestion, start to end: files are discovered, read, parsed into articles, chunked, tokenized and mined for facts,
then committed to the store in batches; the entry point is ingest(index, paths)."""

from __future__ import annotations

import json
import os
import threading
import time
from collections import deque
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, Iterable

from ..errors import DiskFull, StoreUnavailable
from ..settings import Settings
from ..store.children import die_with_parent
from ..store.index import WRITE_LOCK_WAIT_S, Index
from ..store.records import ArticleRow, ChunkRow, DocumentRecord, DocumentRow, Fact
from ..text.tokens import tokenize
from .articles import Article, ParsedDocument, parse_document
from .chunking import Chunk, chunk_document
from .facts import FactExtractor, make_extractor
from .loading import SourceDocument, Skipped, discover, read_file

FACTS_VERSION = "10"  # bump when the rule-based extractor changes, so existing indexes re-extract
# Bump when parsing or chunking changes what a file becomes: a stored document counts as unchanged only when
# both its content and the parser that read it are the same, so the next ingest of the same files redoes them.
PARSER_VERSION = "4"
COMMIT_CHUNKS = 512  # passages written per catalog transaction (each lands whole; readers see it at once)

Progress = Callable[[int, int, str], None]  # (files done, files in all, the file just read)


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
class PreparedDocument:
    """A document ready to commit: its catalog record, built where it was prepared (a worker process for a large
    ingest), so the writing process only writes it."""

    doc: SourceDocument
    record: DocumentRecord


def parsed_hash(doc: SourceDocument) -> str:
    """What the catalog records of a document: its content as read by this parser version."""
    return f"p{PARSER_VERSION}:{doc.content_hash}"


def facts_version(extractor: FactExtractor) -> str:
    return f"{getattr(extractor, 'name', 'rules')}-{FACTS_VERSION}"


def prepare(doc: SourceDocument, settings: Settings, extractor: FactExtractor) -> PreparedDocument:
    """What a document becomes before it is written: its articles, chunks, their BM25 tokens and its facts. A pure
    function of the document and the settings, so it runs in any process."""
    default_title = doc.title or Path(doc.doc_id).stem
    parsed = parse_document(doc.text, default_title)
    meta = dict(doc.metadata)
    if doc.line:
        meta["line"] = doc.line
    chunks = chunk_document(
        parsed, doc.doc_id, doc.source, budget=settings.chunk_tokens, overlap=settings.chunk_overlap_sentences,
        metadata=meta,
    )
    # Facts are read in simplified characters (subjects and metrics match questions in either script).
    facts = extractor.extract(parsed.folded(), [c.folded() for c in chunks], doc.doc_id, doc.source)
    return PreparedDocument(doc, _record(doc, parsed, chunks, facts))


def _record(d: SourceDocument, parsed: ParsedDocument, chunks: list[Chunk], facts: list[Fact]) -> DocumentRecord:
    """A prepared document as the catalog's rows. Its ingestion time is set when it is committed."""
    return DocumentRecord(
        DocumentRow(d.doc_id, d.source, d.title, parsed_hash(d), parsed.text, json.dumps(d.metadata, ensure_ascii=False),
                    len(parsed.articles), len(chunks), 0.0),
        [ArticleRow(i, a.title, a.start, a.body_start, a.end, a.byline, a.subtitle) for i, a in enumerate(parsed.articles)],
        [ChunkRow(c.chunk_id, c.ordinal, c.article, c.title, c.text, c.start, c.end, c.source, " ".join(tokenize(c.index_text)),
                  json.dumps(c.metadata, ensure_ascii=False), c.subtitle) for c in chunks],
        facts,
    )


# --- ingest: files in, committed documents out ---------------------------------------------------

def ingest(index: Index, paths: Iterable[Path], progress: Progress | None = None) -> IngestReport:
    """Ingest files and folders into the index; unchanged documents are skipped, changed ones replace their old
    passages. Raises IndexBusy when another writer is at work on this index."""
    with index.writing(WRITE_LOCK_WAIT_S):
        return _ingest(index, [Path(p) for p in paths], progress)


def _ingest(index: Index, paths: list[Path], progress: Progress | None) -> IngestReport:
    started = time.perf_counter()
    report = IngestReport()
    files, skipped = discover(paths)
    if index.needs_repair():  # an earlier writer died mid-write: repair what it left behind
        index.reconcile()
    extractor = make_extractor(index.settings)
    refresh_facts(index, extractor)
    report.skipped.extend(skipped)
    known = index.stored_versions()
    seen_in_run: set[str] = set()
    max_bytes = int(index.settings.max_file_mb * 1e6)

    def changed() -> Iterable[SourceDocument]:
        """The documents to (re)write, in reading order; unchanged and unreadable ones are reported here."""
        for n, path in enumerate(files, start=1):
            try:
                report.bytes_read += path.stat().st_size
            except OSError:
                pass
            for item in read_file(path, max_bytes=max_bytes):
                if isinstance(item, Skipped):
                    report.skipped.append(item)
                    continue
                digest = parsed_hash(item)  # of its content: the same whatever id it ends up with
                item = _own_id(item, digest, known, report)
                if known.get(item.doc_id, ("",))[0] == digest and item.doc_id not in seen_in_run:
                    report.unchanged.append(item.doc_id)
                    continue
                (report.replaced if item.doc_id in known else report.added).append(item.doc_id)
                known[item.doc_id] = (digest, item.source)
                seen_in_run.add(item.doc_id)
                yield item
            if progress:
                progress(n, len(files), str(path))

    batch: list[PreparedDocument] = []
    batch_chunks = 0
    full: DiskFull | StoreUnavailable | None = None  # what stopped the commits, if anything did

    def commit(batch: list[PreparedDocument]) -> None:
        """Commit a batch; on a full disk, its documents are reported skipped and reading stops (what was committed
        before stays committed, and is reported so)."""
        nonlocal full
        try:
            report.chunks_written += index.commit([b.record for b in batch])
        except (DiskFull, StoreUnavailable) as exc:
            full = exc
            reason = "磁盘空间不足，未导入" if isinstance(exc, DiskFull) else "Chroma 服务器无法连接，未导入"
            for b in batch:
                item = b.doc
                (report.replaced if item.doc_id in report.replaced else report.added).remove(item.doc_id)
                report.skipped.append(Skipped(item.source, reason, item.line))

    with _preparing(index, files, extractor) as (prepared_docs, pool):
        for prepared in prepared_docs(changed()):
            item = prepared.doc
            if not prepared.record.chunks:
                (report.replaced if item.doc_id in report.replaced else report.added).remove(item.doc_id)
                report.skipped.append(Skipped(item.source, "规范化后没有剩下正文", item.line))
                continue
            # A later line with the same id wins; drop the earlier one still waiting in the batch.
            batch = [b for b in batch if b.doc.doc_id != item.doc_id]
            batch.append(prepared)
            batch_chunks += len(prepared.record.chunks)
            if batch_chunks >= COMMIT_CHUNKS:
                commit(batch)
                batch, batch_chunks = [], 0
                if full is not None:
                    break
        if full is None:
            commit(batch)
        if full is not None and not (report.added or report.replaced):
            raise full  # nothing of this ingest was committed: the whole of it failed, in one sentence
        if full is not None:
            report.warnings.append(str(full))
        try:
            index.refresh_lexical(pool)
        except OSError as exc:  # the saved BM25 could not be written: readers lay the change over the older one
            report.warnings.append(f"关键词索引未能保存（{exc.strerror or type(exc).__name__}），提问不受影响。")
    report.answerable_seconds = time.perf_counter() - started
    if index.embedder.inline:  # a fast embedder's vectors now, in this run; a slow one's in the background
        index.embed_pending(batch_size=COMMIT_CHUNKS)
    report.warnings.extend(getattr(extractor, "warnings", []))
    if not index.embedder.inline:
        report.vectors_pending = index.pending_count()
    report.seconds = time.perf_counter() - started
    return report


def refresh_facts(index: Index, extractor: FactExtractor) -> int:
    """Re-extract every stored document's facts when the extractor changed since they were extracted (an index
    records the version it holds; a new one takes this one's); returns how many facts were written."""
    version = facts_version(extractor)
    if index.meta("facts_version") == version:
        return 0
    total = 0

    def extracted() -> Iterable[tuple[str, list[Fact]]]:
        nonlocal total
        for record in index.records():
            row = record.document
            parsed = ParsedDocument(text=row.text, articles=[
                Article(title=a.title, start=a.start, body_start=a.body_start, end=a.end, byline=a.byline,
                        subtitle=a.subtitle) for a in record.articles]).folded()
            chunks = [Chunk(chunk_id=c.chunk_id, doc_id=row.doc_id, source=row.source, title=c.title, text=c.text,
                            start=c.start, end=c.end, article=c.article, ordinal=c.ordinal, subtitle=c.subtitle).folded()
                      for c in record.chunks]
            facts = extractor.extract(parsed, chunks, row.doc_id, row.source)
            total += len(facts)
            yield row.doc_id, facts

    index.replace_facts(extracted(), version)
    return total


def _same_file(a: str, b: str) -> bool:
    try:
        return Path(a).resolve() == Path(b).resolve()
    except OSError:
        return a == b


def _own_id(item: SourceDocument, digest: str, known: dict[str, tuple[str, str]], report: IngestReport) -> SourceDocument:
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


# --- preparing documents in worker processes ----------------------------------------------
# Ingestion is CPU-bound (segmentation, fact rules): documents are prepared by one worker process per
# core while this process writes what they return, in order. A single-threaded process (the CLI, a script) forks its
# workers, which start at once and need no `if __name__ == "__main__"` guard; a server spawns them, since its other
# threads may hold locks at the moment of a fork.

PARALLEL_MIN_BYTES = 1_000_000  # below this much text, starting workers (about a second) costs more than it saves
WORKER_TASK_BYTES = 200_000  # text sent to a worker at a time: large enough to amortize the hand-over
WORKER_WINDOW = 4  # tasks in flight per worker, so a worker never waits and memory stays bounded
_WORKER: dict = {}


@contextmanager
def _preparing(index: Index, files: list[Path], extractor: FactExtractor):
    """A function from documents to prepared documents, in order, and the worker pool: in worker processes for a
    large ingest with the rule-based fact extractor (an LLM extractor reports warnings from this process), else
    here (the pool is None)."""
    settings = index.settings
    try:
        total = sum(f.stat().st_size for f in files)
    except OSError:
        total = 0
    workers = settings.ingest_workers or max(1, min(os.cpu_count() or 1, 8))
    if workers < 2 or total < PARALLEL_MIN_BYTES or settings.facts_extractor != "rules":
        yield (lambda docs: (prepare(d, settings, extractor) for d in docs)), None
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    method = "fork" if threading.active_count() == 1 else "spawn"
    lock = index.lock_fd() if method == "fork" else None  # a spawned worker has no copy
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context(method), initializer=_start_worker,
                             initargs=(settings, os.getpid(), lock)) as pool:
        yield (lambda docs: _in_order(pool, _grouped(docs, WORKER_TASK_BYTES), workers * WORKER_WINDOW)), pool


def _start_worker(settings: Settings, writer_pid: int, inherited_lock: int | None) -> None:
    """A worker's start. A forked worker closes its copy of the writer's locked file: an flock belongs to every copy,
    so a worker outliving a writer killed with -9 would keep the index locked. And every worker dies with its
    writer."""
    if inherited_lock is not None:
        os.close(inherited_lock)
    die_with_parent(writer_pid)
    _WORKER.update(settings=settings, extractor=make_extractor(settings))


def _prepare_in_worker(docs: list[SourceDocument]) -> list[PreparedDocument]:
    return [prepare(d, _WORKER["settings"], _WORKER["extractor"]) for d in docs]


def _in_order(pool, groups: Iterable[list[SourceDocument]], window: int):
    """Each group's prepared documents, in the order given, with at most `window` groups in flight."""
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
