"""The shared catalog in Chroma server mode: every document, whole (its text, articles, passages with their BM25
tokens, and facts), in a Chroma collection, with a generation number that every write bumps.

One Chroma server holds the truth for every assistant process that names it (ASSISTANT_CHROMA_HOST/PORT):
- `catalog_v1`: one record a document; the record's document is a JSON object with everything the local SQLite
  catalog holds of it, its metadata the content hash (so a reader compares without fetching texts);
- `chunks_<embedding>`: one record a passage, with its vector, its text and its metadata (as in embedded mode);
- `state_v1`: one record whose metadata holds the generation.

A writer publishes a batch's catalog records first (so every process can answer from them with BM25 at once), then
bumps the generation; the passages' vectors follow, as after any ingestion. It removes a document's record before
its passages, so a reader never finds a record whose passages are gone.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from ..errors import StoreUnavailable
from .records import DocumentRecord

CATALOG = "catalog_v1"
STATE = "state_v1"
STATE_ID = "state"
PLACEHOLDER = [1.0]  # Chroma stores a vector with every record: the catalog's records need none, so all get this one
PAGE = 500  # records fetched from the server at a time


@dataclass
class SharedDocument:
    """Everything the local catalog holds of one document, as the server keeps it."""

    doc_id: str
    content_hash: str
    record: DocumentRecord

    def to_json(self) -> str:
        return self.record.to_json()


def connect(host: str, port: int):
    """A client of the Chroma server (`chroma run`); StoreUnavailable, in one sentence, when nothing answers there."""
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    try:
        return chromadb.HttpClient(host=host, port=port, settings=ChromaSettings(anonymized_telemetry=False))
    except Exception as exc:  # noqa: BLE001 - chromadb raises ValueError, httpx errors...: all mean "not there"
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:160]
        raise StoreUnavailable(
            f"无法连接 Chroma 服务器 {host}:{port}（{first}）：请确认 chroma run 已在该地址启动，"
            "或取消 ASSISTANT_CHROMA_HOST 以使用本地向量库。"
        ) from None


class SharedCatalog:
    """The catalog and generation collections of one Chroma server."""

    def __init__(self, client):
        self.client = client
        self.catalog = client.get_or_create_collection(CATALOG, embedding_function=None)
        self.state = client.get_or_create_collection(STATE, embedding_function=None)

    def generation(self) -> int:
        got = self.state.get(ids=[STATE_ID], include=["metadatas"])
        return int(got["metadatas"][0]["generation"]) if got["ids"] else 0

    def bump(self) -> int:
        """Advance the generation (readers reload when it moves). Writers are one at a time per index; across
        processes on one server the last write wins the number, and any change of it is what readers look for."""
        generation = self.generation() + 1
        self.state.upsert(ids=[STATE_ID], embeddings=[PLACEHOLDER],
                          metadatas=[{"generation": generation, "changed_at": time.time()}])
        return generation

    def hashes(self) -> dict[str, str]:
        """Every document's id and content hash (no texts)."""
        out: dict[str, str] = {}
        offset = 0
        while True:
            got = self.catalog.get(include=["metadatas"], limit=PAGE * 10, offset=offset)
            out.update({i: m["content_hash"] for i, m in zip(got["ids"], got["metadatas"])})
            if len(got["ids"]) < PAGE * 10:
                return out
            offset += len(got["ids"])

    def fetch(self, doc_ids: list[str]) -> list[SharedDocument]:
        out = []
        for i in range(0, len(doc_ids), PAGE):
            got = self.catalog.get(ids=doc_ids[i : i + PAGE], include=["documents", "metadatas"])
            out += [SharedDocument(d, m["content_hash"], DocumentRecord.from_json(text))
                    for d, m, text in zip(got["ids"], got["metadatas"], got["documents"])]
        return out

    def publish(self, docs: list[SharedDocument]) -> None:
        for i in range(0, len(docs), PAGE):
            part = docs[i : i + PAGE]
            self.catalog.upsert(ids=[d.doc_id for d in part], embeddings=[PLACEHOLDER] * len(part),
                                documents=[d.to_json() for d in part],
                                metadatas=[{"content_hash": d.content_hash} for d in part])

    def copy_into(self, db, remote_generation: int) -> bool:
        """Bring a process's local catalog (`db`, under its write lock) up to this server's: documents added, changed
        or removed since, in one transaction; True if anything changed."""
        from . import catalog

        theirs = self.hashes()
        ours = {r[0]: r[1] for r in db.execute("SELECT doc_id, content_hash FROM documents")}
        gone = [d for d in ours if d not in theirs]
        records = self.fetch(sorted(d for d, h in theirs.items() if ours.get(d) != h))
        with db:
            for doc_id in gone:
                catalog.delete_rows(db, doc_id)
            for shared in records:
                catalog.write_record(db, shared.record)
            catalog.set_meta(db, "shared_generation", remote_generation)
            if gone or records:
                catalog.set_meta(db, "generation", int(catalog.get_meta(db, "generation", "0")) + 1)
        return bool(gone or records)

    def remove(self, doc_ids: list[str]) -> set[str]:
        """Remove these documents' records; the ids the server held."""
        held: set[str] = set()
        for i in range(0, len(doc_ids), PAGE):
            part = doc_ids[i : i + PAGE]
            held.update(self.catalog.get(ids=part, include=[])["ids"])
            self.catalog.delete(ids=part)
        return held
