"""Typed records that cross the store's boundary: what ingestion writes (a document's rows and its facts) and what
readers get back (a passage to rank and cite, an article's full text, a document's listing)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import NamedTuple

from pydantic import BaseModel, Field

from ..text.figures import CN_MAGNITUDE

UNTITLED = "（无标题）"


def heading_label(title: str, subtitle: str = "") -> str:
    """How an article is named to a reader: its headline, else its subtitle, else 无标题 (a story whose page
    printed no headline is never named by a sentence of its body)."""
    if title:
        return title
    return subtitle or UNTITLED


def full_heading(title: str, subtitle: str = "") -> str:
    """Headline and subtitle on one line, as a newspaper sets them: "越是艰难越向前——阳城县生态环保工作综述"."""
    if title and subtitle:
        return f"{title}——{subtitle}"
    return heading_label(title, subtitle)


def scoped_text(title: str, subtitle: str, text: str) -> str:
    """A passage's text under its article's heading lines, as it is embedded and indexed: the headline and subtitle
    give every passage of an article its scope."""
    return "\n".join(part for part in (title, subtitle, text) if part)


class Fact(BaseModel):
    """One figure of an article with what it is about."""

    subject: str = Field(min_length=1, max_length=40)  # what it is about: 沁水县, 联想集团, 华夏成长混合, 中国
    year: int | None = Field(None, ge=1900, le=2100)
    period: str = ""  # the year and, where the text says so, its part: 2023年上半年, 2024年1—7月, 2023年
    metric: str = Field(min_length=1, max_length=40)  # 处罚金额
    value: float
    value_max: float | None = None  # the upper end of a range ("3至5个")
    unit: str = ""  # 万元, 家次, 件, %, 微克/立方米
    qualifier: str | None = None  # 余, 多, 约, 以上
    span: str = Field(min_length=1)  # the exact quoted text holding the figure
    context: str = ""  # the whole sentence the figure is in
    title: str = ""  # the article's full heading (headline——subtitle), as the facts table shows it
    source: str = ""
    doc_id: str = ""
    chunk_id: str = ""

    @property
    def base_value(self) -> float:
        """The value with a magnitude prefix of the unit folded in: 394.179 万元 -> 3941790."""
        if len(self.unit) > 1 and self.unit[0] in CN_MAGNITUDE:
            return round(self.value * CN_MAGNITUDE[self.unit[0]], 6)
        return self.value

    @property
    def base_unit(self) -> str:
        return self.unit[1:] if len(self.unit) > 1 and self.unit[0] in CN_MAGNITUDE else self.unit

    def display(self) -> str:
        """The figure as the text would write it: 5800余万元, 约3个, 40家以上."""
        q = self.qualifier or ""
        if q == "以上":
            return f"{self._number()}{self.unit}以上"
        return f"{self.display_value()}{self.unit}"

    def display_value(self) -> str:
        """The number with its qualifier and range, without the unit (the table's 数值 beside 单位): 5800余, 约3, 3至5."""
        q = self.qualifier or ""
        return f"{self._number()}{q}" if q in ("余", "多", "以上") else f"{q}{self._number()}"

    def _number(self) -> str:
        return f"{self.value:g}" + (f"至{self.value_max:g}" if self.value_max is not None else "")

    @property
    def when(self) -> str:
        """The period the figure is for, as the table shows it: 2023年上半年, else its year, else nothing."""
        return self.period or (f"{self.year}年" if self.year else "")


# The columns a fact is stored in (the catalog's facts table and a record's fact rows, in this order), before the two
# derived ones (base_value, base_unit).
FACT_COLUMNS = (
    "doc_id", "chunk_id", "subject", "year", "metric", "value", "value_max", "unit", "qualifier", "span", "title", "source",
    "context", "period",
)


def fact_row(f: Fact) -> list:
    return [*(getattr(f, col) for col in FACT_COLUMNS), f.base_value, f.base_unit]


def fact_of_row(row) -> Fact:
    # Rows were validated when they were written: building them unchecked is 4 times faster.
    return Fact.model_construct(**dict(zip(FACT_COLUMNS, row)))


# --- what ingestion writes: one document's rows ----------------------------------------------------
# The rows are the catalog's columns in order. They cross processes (an ingest worker prepares them) and, as JSON
# lists, the Chroma server in server mode (store/shared.py), so their layout is the wire format: change it only with
# a new shared collection.

class DocumentRow(NamedTuple):
    doc_id: str
    source: str
    title: str | None
    content_hash: str  # of the content as read by one parser version ("p4:…"): unchanged means nothing to redo
    text: str  # the normalized text every offset points into
    metadata: str  # JSON
    n_articles: int
    n_chunks: int
    ingested_at: float  # set when the document is committed


class ArticleRow(NamedTuple):
    idx: int
    title: str
    start: int
    body_start: int
    end: int
    byline: str | None
    subtitle: str


class ChunkRow(NamedTuple):
    chunk_id: str
    ordinal: int
    article: int
    title: str
    text: str
    start: int
    end: int
    source: str
    tokens: str  # the passage's BM25 tokens, space-separated
    metadata: str  # JSON
    subtitle: str


@dataclass
class DocumentRecord:
    """Everything the catalog holds of one document: what ingestion hands the store to commit, what the store keeps
    and what the Chroma server shares between processes."""

    document: DocumentRow
    articles: list[ArticleRow]
    chunks: list[ChunkRow]
    facts: list[Fact]

    @property
    def doc_id(self) -> str:
        return self.document.doc_id

    @property
    def chunk_ids(self) -> list[str]:
        return [c.chunk_id for c in self.chunks]

    def to_json(self) -> str:
        return json.dumps({"document": list(self.document), "articles": [list(a) for a in self.articles],
                           "chunks": [list(c) for c in self.chunks], "facts": [fact_row(f) for f in self.facts]},
                          ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str) -> "DocumentRecord":
        d = json.loads(text)
        return cls(DocumentRow(*d["document"]), [ArticleRow(*a) for a in d["articles"]],
                   [ChunkRow(*c) for c in d["chunks"]], [fact_of_row(f) for f in d["facts"]])

@dataclass
class Passage:
    """A chunk with where it came from; retrieval gives it a score, and it is what an answer cites."""

    chunk_id: str
    doc_id: str
    source: str
    title: str
    text: str
    score: float
    start: int = 0
    end: int = 0
    article: int = 0
    metadata: dict = field(default_factory=dict)
    subtitle: str = ""

    @property
    def heading(self) -> str:
        """The article's name as a citation shows it."""
        return heading_label(self.title, self.subtitle)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["score"] = round(self.score, 6)
        return d


@dataclass(frozen=True)
class ArticleText:
    """One article of a document: its title, byline, offsets in the document's normalized text, and its text."""

    title: str
    byline: str | None
    start: int
    end: int
    text: str
    subtitle: str = ""


@dataclass(frozen=True)
class DocumentInfo:
    """One ingested document as the documents list shows it."""

    doc_id: str
    source: str
    title: str | None
    articles: int
    chunks: int
    article_titles: list[str]  # each article's full heading, in page order

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class IndexStatus:
    """What the index holds: its counts, the embedding its vectors are of, and where it lives."""

    documents: int
    articles: int
    chunks: int
    facts: int
    vectors: int
    vectors_pending: int  # passages still waiting for their vectors
    embedding: str  # the embedder's fingerprint ("none": BM25 alone)
    vector_store: str
    index_dir: str
    chroma_server: str | None = None  # host:port in server mode
    degraded: str | None = None  # why the index answers with less than it has (the Chroma server away), in Chinese

    def to_dict(self) -> dict:
        """As JSON shows it: the fields that are set."""
        return {k: v for k, v in asdict(self).items() if v is not None}
