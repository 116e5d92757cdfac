"""Typed records that cross the store's boundary: a stored passage (what retrieval ranks and answers cite), an
article's full text, and a document's listing."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from ..ingest.articles import full_heading, heading_label  # noqa: F401  (re-exported for the interfaces)

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
