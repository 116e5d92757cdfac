"""The SQLite catalog's tables: the schema, a document record written and read whole, facts selected by filters,
and the two BM25 indexes built from the rows (the vector store and BM25 are derived from these tables)."""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path
from typing import Callable

from ..text.places import places_within  # loads jionlp's table only when a facts filter names a place
from ..text.tokens import bigram_of_code, char_bigram_codes
from .lexical import BM25Index, Sources
from .records import (
    FACT_COLUMNS, ArticleRow, ChunkRow, DocumentInfo, DocumentRecord, DocumentRow, Fact, fact_of_row, fact_row,
    full_heading, scoped_text,
)

CATALOG_FILE = "catalog.sqlite3"
WRITE_LOCK = "write.lock"  # flock'ed by the one process (and thread) writing to the index

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
INSERT_FACT = (f"INSERT INTO facts ({', '.join(FACT_COLUMNS)}, base_value, base_unit) "
               f"VALUES ({','.join('?' * (len(FACT_COLUMNS) + 2))})")
DOCUMENT_TABLES = ("documents", "chunks", "articles", "facts")  # every table with rows of a document
OPENING_CHARS = 24  # how much of an untitled story's first line the documents list shows to tell it apart
ROWS_PER_QUERY = 500  # ids bound into one IN (...) clause: well under SQLite's limit of bound parameters


def create(db: sqlite3.Connection) -> None:
    """The tables, created or brought up to date (an index written by an older version keeps its documents)."""
    with db:  # WAL: readers see the last committed batch while a writer works, and never block it
        db.execute("PRAGMA journal_mode=WAL")
    columns = {r[1] for r in db.execute("PRAGMA table_info(facts)")}
    if columns and not {"context", "period"} <= columns:  # facts are derived data: rebuild an older table
        with db:
            db.execute("DROP TABLE facts")
            db.execute("DELETE FROM meta WHERE key='facts_version'")
    for table in ("articles", "chunks"):  # indexes written before subtitles were kept
        have = {r[1] for r in db.execute(f"PRAGMA table_info({table})")}
        if have and "subtitle" not in have:
            db.execute(f"ALTER TABLE {table} ADD COLUMN subtitle TEXT NOT NULL DEFAULT ''")
    db.executescript(SCHEMA)


def get_meta(db: sqlite3.Connection, key: str, default: str | None = None) -> str | None:
    row = db.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
    return row[0] if row else default


def set_meta(db: sqlite3.Connection, key: str, value) -> None:
    """Inside the caller's transaction."""
    db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, str(value)))


# --- a document, whole ---------------------------------------------------------------------------

def documents(db: sqlite3.Connection) -> list[DocumentInfo]:
    """Every document as the documents list shows it, each article by its full heading (an untitled story by how
    it opens, marked 开头：)."""
    titles: dict[str, list[str]] = {}
    listed = db.execute(
        "SELECT a.doc_id, a.title, a.subtitle, substr(d.text, a.body_start + 1, ?) FROM articles a "
        "JOIN documents d ON d.doc_id = a.doc_id ORDER BY a.doc_id, a.idx",
        (OPENING_CHARS,),
    )
    for doc_id, title, subtitle, opening in listed:
        heading = full_heading(title, subtitle)
        if not title and not subtitle:
            heading += f"开头：{opening.splitlines()[0] if opening else ''}…"
        titles.setdefault(doc_id, []).append(heading)
    rows = db.execute("SELECT doc_id, source, title, n_articles, n_chunks FROM documents ORDER BY doc_id").fetchall()
    return [DocumentInfo(*r, article_titles=titles.get(r[0], [])) for r in rows]


def write_record(db: sqlite3.Connection, r: DocumentRecord) -> None:
    """Replace one document's rows with a record (inside the caller's transaction)."""
    doc_id = r.doc_id
    delete_rows(db, doc_id, ("chunks", "articles", "facts"))
    db.execute("INSERT OR REPLACE INTO documents VALUES (?,?,?,?,?,?,?,?,?)", r.document)
    db.executemany("INSERT INTO articles VALUES (?,?,?,?,?,?,?,?)", [(doc_id, *a) for a in r.articles])
    db.executemany("INSERT OR REPLACE INTO chunks VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                   [(c.chunk_id, doc_id, *c[1:]) for c in r.chunks])
    db.executemany(INSERT_FACT, [fact_row(f) for f in r.facts])


def read_record(db: sqlite3.Connection, doc_id: str) -> DocumentRecord | None:
    """A stored document as the record it was written from."""
    row = db.execute("SELECT * FROM documents WHERE doc_id=?", (doc_id,)).fetchone()
    if row is None:
        return None
    articles = [ArticleRow(*r) for r in db.execute(
        "SELECT idx, title, start, body_start, end, byline, subtitle FROM articles WHERE doc_id=? ORDER BY idx", (doc_id,))]
    chunks = [ChunkRow(*r) for r in db.execute(
        "SELECT chunk_id, ordinal, article, title, text, start, end, source, tokens, metadata, subtitle FROM chunks "
        "WHERE doc_id=? ORDER BY ordinal", (doc_id,))]
    facts = [fact_of_row(r) for r in db.execute(
        f"SELECT {', '.join(FACT_COLUMNS)} FROM facts WHERE doc_id=? ORDER BY rowid", (doc_id,))]
    return DocumentRecord(DocumentRow(*row), articles, chunks, facts)


def delete_rows(db: sqlite3.Connection, doc_id: str, tables: tuple[str, ...] = DOCUMENT_TABLES) -> int:
    """Delete a document's rows from these tables (inside the caller's transaction); how many documents rows."""
    deleted = 0
    for table in tables:
        cur = db.execute(f"DELETE FROM {table} WHERE doc_id=?", (doc_id,))
        deleted += cur.rowcount if table == "documents" else 0
    return deleted


def write_facts(db: sqlite3.Connection, doc_id: str, facts: list[Fact]) -> None:
    """Replace a document's facts (inside the caller's transaction)."""
    delete_rows(db, doc_id, ("facts",))
    db.executemany(INSERT_FACT, [fact_row(f) for f in facts])


def chunk_rows(db: sqlite3.Connection, chunk_ids: list[str]) -> list[dict]:
    """These passages' rows (metadata decoded), in the order given; unknown ids are left out."""
    cols = ("chunk_id", "doc_id", "ordinal", "article", "title", "subtitle", "text", "start", "end", "source", "metadata")
    out: dict[str, dict] = {}
    for i in range(0, len(chunk_ids), ROWS_PER_QUERY):
        part = chunk_ids[i : i + ROWS_PER_QUERY]
        marks = ",".join("?" * len(part))
        for r in db.execute(f"SELECT {', '.join(cols)} FROM chunks WHERE chunk_id IN ({marks})", part):
            row = dict(zip(cols, r))
            row["metadata"] = json.loads(row["metadata"])
            out[row["chunk_id"]] = row
    return [out[c] for c in chunk_ids if c in out]


# --- facts -----------------------------------------------------------------------------------------

def fact_filter(subject: str | None, metric: str | None, year: int | None, subject_prefix: str | None) -> tuple[str, list]:
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


# --- the two BM25 indexes, derived from the catalog ---------------------------------------------

def article_key(doc_id: str, article: int) -> str:
    """One id for an article across the catalog and the article index."""
    return f"{doc_id}#{article}"


def split_article_key(key: str) -> tuple[str, int]:
    doc_id, _, article = key.rpartition("#")
    return doc_id, int(article)


def chunk_articles(db: sqlite3.Connection, chunk_ids: list[str]) -> dict[str, str]:
    """The article of each of these chunks (chunk_id -> article_key), without reading their text."""
    out: dict[str, str] = {}
    for i in range(0, len(chunk_ids), ROWS_PER_QUERY):
        part = chunk_ids[i : i + ROWS_PER_QUERY]
        for cid, doc_id, article in db.execute(
            f"SELECT chunk_id, doc_id, article FROM chunks WHERE chunk_id IN ({','.join('?' * len(part))})", part
        ):
            out[cid] = article_key(doc_id, article)
    return out


def article_chunks(db: sqlite3.Connection, keys: list[str]) -> dict[str, list[str]]:
    """The chunk ids of these articles (article_key -> ids in reading order)."""
    wanted = {split_article_key(key) for key in keys}
    docs = sorted({doc_id for doc_id, _ in wanted})
    out: dict[str, list[str]] = {}
    for i in range(0, len(docs), ROWS_PER_QUERY):  # by document (indexed), then its articles' passages kept
        part = docs[i : i + ROWS_PER_QUERY]
        for cid, doc_id, article in db.execute(
            f"SELECT chunk_id, doc_id, article FROM chunks WHERE doc_id IN ({','.join('?' * len(part))}) "
            "ORDER BY doc_id, ordinal", part,
        ):
            if (doc_id, article) in wanted:
                out.setdefault(article_key(doc_id, article), []).append(cid)
    return out


def _in_docs(column: str, doc_ids: list[str] | None) -> tuple[str, list[str]]:
    """A WHERE clause keeping the rows of these documents (all rows when None)."""
    if doc_ids is None:
        return "", []
    return f"WHERE {column} IN ({','.join('?' * len(doc_ids))})", list(doc_ids)


def passage_bm25(db: sqlite3.Connection, gen: int, doc_ids: list[str] | None = None,
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


def article_bm25(db: sqlite3.Connection, gen: int, doc_ids: list[str] | None = None,
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


# Each kind of BM25: its folder in the index (a link to its saved version) and how it is built from the catalog.
BM25_KINDS: dict[str, tuple[str, Callable[..., BM25Index]]] = {
    "bm25": ("bm25", passage_bm25),
    "articles": ("bm25_articles", article_bm25),
}


def save_bm25(index_dir: str, kind: str, gen: int, writer_pid: int) -> None:
    """In a worker process, for the writer that holds the index's lock: build one BM25 from the committed catalog
    (generation `gen`) and save it where the writer loads it. A worker whose writer died meanwhile (kill -9) saves
    nothing: the lock is no longer held for it."""
    db = sqlite3.connect(f"file:{index_dir}/{CATALOG_FILE}?mode=ro", uri=True)
    try:
        folder, build = BM25_KINDS[kind]
        index = build(db, gen)
        if os.getppid() == writer_pid:
            index.save(Path(index_dir) / folder)
    finally:
        db.close()
