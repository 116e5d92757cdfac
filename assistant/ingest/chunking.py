"""Articles to chunks: pack whole sentences up to a tiktoken budget, with content-derived ids and offsets."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace

from ..text.chars import clause_spans, ends_sentence, sentence_spans
from ..text.script import to_simplified
from ..text.tokens import count_tokens
from ..store.records import scoped_text
from .articles import ParsedDocument


@dataclass(frozen=True)
class Chunk:
    """A retrievable passage: a contiguous span of a document's normalized text inside one article."""

    chunk_id: str
    doc_id: str
    source: str
    title: str  # the article's headline ("" when the page printed none)
    text: str
    start: int  # offsets into the document's normalized text
    end: int
    article: int  # index of the article in the document
    ordinal: int  # index of the chunk in the document
    metadata: dict = field(default_factory=dict)
    subtitle: str = ""  # the article's subtitle

    def folded(self) -> "Chunk":
        """The chunk in simplified characters, offsets unchanged."""
        return replace(self, title=to_simplified(self.title), subtitle=to_simplified(self.subtitle),
                       text=to_simplified(self.text))

    @property
    def index_text(self) -> str:
        """What BM25 and the embedding see: the article's headline and subtitle give every chunk its scope."""
        return scoped_text(self.title, self.subtitle, self.text)


def _size(text: str) -> int:
    """A passage's size for the chunk budget, the same in either script (tiktoken spends more tokens on
    traditional characters: the same archive in traditional script made 24% more, smaller chunks)."""
    return count_tokens(to_simplified(text))


def _safe_cut(text: str, start: int, end: int, budget: int) -> list[tuple[int, int]]:
    """Cut an over-long clause by characters, never between the characters of a figure."""
    pieces, s = [], start
    step = max(budget, 8)
    while end - s > step:
        cut = s + step
        while cut > s + 1 and (text[cut - 1].isdigit() or text[cut - 1] in ".%") and (
            text[cut].isdigit() or text[cut] in ".%万亿元"
        ):
            cut -= 1
        pieces.append((s, cut))
        s = cut
    pieces.append((s, end))
    return pieces


def _is_heading(text: str, unit: tuple[int, int]) -> bool:
    """A whole line that ends no sentence: a section heading or byline."""
    a, b = unit
    return (a == 0 or text[a - 1] == "\n") and (b == len(text) or text[b] == "\n") and not ends_sentence(text[a:b])


def _units(text: str, start: int, end: int, budget: int) -> list[tuple[int, int, int]]:
    """Sentences of text[start:end], each over-long one split at clause marks, then by characters: (start, end,
    size), each unit sized once (tokenizing is a quarter of what chunking costs)."""
    units: list[tuple[int, int, int]] = []
    for a, b in sentence_spans(text, start, end):
        size = _size(text[a:b])
        if size <= budget:
            units.append((a, b, size))
            continue
        for c, d in clause_spans(text, a, b):
            size = _size(text[c:d])
            if size <= budget:
                units.append((c, d, size))
            else:
                units.extend((e, f, _size(text[e:f])) for e, f in _safe_cut(text, c, d, budget))
    return units


def chunk_document(
    doc: ParsedDocument,
    doc_id: str,
    source: str,
    budget: int = 320,
    overlap: int = 1,
    metadata: dict | None = None,
) -> list[Chunk]:
    """Chunks of every article; each chunk repeats the last `overlap` sentences of the one before."""
    chunks: list[Chunk] = []
    seen: dict[str, int] = {}
    for a_idx, article in enumerate(doc.articles):
        sized = _units(doc.text, article.body_start, article.end, budget)
        if not sized:  # an article that is only a heading
            sized = [(article.start, article.end, _size(doc.text[article.start : article.end]))]
        units = [(a, b) for a, b, _ in sized]
        tokens = [size for _, _, size in sized]
        i = 0
        while i < len(units):
            j, used = i, 0
            while j < len(units) and (j == i or used + tokens[j] <= budget):
                used += tokens[j]
                j += 1
            # A section heading opens the next chunk rather than closing this one.
            while j - 1 > i and j < len(units) and _is_heading(doc.text, units[j - 1]):
                j -= 1
            start, end = units[i][0], units[j - 1][1]
            text = doc.text[start:end]
            # The id changes with anything that is embedded, so a new heading re-embeds the chunk.
            scoped = scoped_text(article.title, article.subtitle, text)
            key = hashlib.sha1(f"{doc_id}\x00{scoped}".encode("utf-8")).hexdigest()[:16]
            n = seen.get(key, 0)
            seen[key] = n + 1
            chunk_id = key if n == 0 else f"{key}-{n}"
            chunks.append(
                Chunk(
                    chunk_id=chunk_id,
                    doc_id=doc_id,
                    source=source,
                    title=article.title,
                    subtitle=article.subtitle,
                    text=text,
                    start=start,
                    end=end,
                    article=a_idx,
                    ordinal=len(chunks),
                    metadata=dict(metadata or {}),
                )
            )
            if j >= len(units):
                break
            # Step back `overlap` sentences, but always move forward.
            back = min(overlap, j - i - 1)
            if back and sum(tokens[j - back : j]) <= budget // 2:
                i = j - back
            else:
                i = j
    return chunks
