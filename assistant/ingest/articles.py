"""Classified paragraphs to articles: split a page into news items, give each its headline, byline and offsets."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field, replace

from .normalize import BODY, BYLINE, CAPTION, SIGNATURE, Block, normalize_blocks
from ..text.chars import ends_sentence
from ..text.script import to_simplified
from ..text.tokens import char_bigrams

# A column label (栏目) printed with its pinyin ("一线传真 yixian chuanzhen") names the page's rubric, not the story.
_COLUMN_LABEL = re.compile(r"^[\u4e00-\u9fff]{2,8}\s*[a-z]{2,}(?:\s+[a-z]{2,})+\s*")
_PINYIN = re.compile(r"[a-z]{2,}(?:\s+[a-z]{2,})+")


@dataclass
class Article:
    """One news item: its title and where its text lies in the normalized document."""

    title: str  # the headline (the subtitle when the page printed only that); "" when it printed neither
    start: int  # offset of the article (its heading lines) in the normalized document text
    body_start: int  # offset where the text after the heading lines begins
    end: int
    byline: str | None = None
    subtitle: str = ""  # the headline's subtitle (the "——" line), without the dashes


@dataclass
class ParsedDocument:
    """A document's normalized text (articles one after another) and the articles in it."""

    text: str
    articles: list[Article] = field(default_factory=list)

    def folded(self) -> "ParsedDocument":
        """The document in simplified characters with every offset unchanged: what fact extraction reads."""
        return ParsedDocument(
            text=to_simplified(self.text),
            articles=[
                replace(a, title=to_simplified(a.title), subtitle=to_simplified(a.subtitle),
                        byline=to_simplified(a.byline) if a.byline else a.byline)
                for a in self.articles
            ],
        )


@dataclass
class _Segment:
    blocks: list[Block] = field(default_factory=list)
    headings: list[str] = field(default_factory=list)
    subtitles: list[str] = field(default_factory=list)
    captions: list[str] = field(default_factory=list)
    byline: str | None = None
    signature: str | None = None

    @property
    def has_body(self) -> bool:
        return any(b.kind == BODY for b in self.blocks)

    def body_text(self) -> str:
        return "".join(b.text for b in self.blocks)


# What a story's text may open with before its lead ("2023-08-12 19:20，新华社"): a short line that ends no
# sentence. A lead after it continues the same story instead of starting another.
MAX_DATELINE_CHARS = 40


def _only_a_dateline(seg: _Segment) -> bool:
    body = "".join(b.text for b in seg.blocks if b.kind == BODY)
    return len(body) <= MAX_DATELINE_CHARS and not ends_sentence(body)


def _split_segments(blocks: list[Block]) -> list[_Segment]:
    """Cut the page at news leads, bylines and signatures; attach bylines and signatures to a side."""
    segments: list[_Segment] = [_Segment()]
    for block in blocks:
        cur = segments[-1]
        if block.kind == BYLINE:
            # A byline after an article's last paragraph closes it; otherwise it opens the next one.
            if cur.has_body and cur.blocks and cur.blocks[-1].kind == BODY:
                cur.byline = block.text
                segments.append(_Segment())
            else:
                nxt = _Segment(blocks=[b for b in cur.blocks if b.kind != BODY])
                cur.blocks = [b for b in cur.blocks if b.kind == BODY]
                nxt.byline = block.text
                segments.append(nxt)
        elif block.kind == SIGNATURE:
            cur.signature = block.text
            segments.append(_Segment())
        elif block.kind == BODY and block.lead and cur.has_body and not _only_a_dateline(cur):
            segments.append(_Segment(blocks=[block]))
        else:
            cur.blocks.append(block)
    return segments


def _float_edges(segments: list[_Segment]) -> list[tuple[int, Block]]:
    """Take headlines and captions at the edges of each segment out; they may belong to another article."""
    floating: list[tuple[int, Block]] = []
    for i, seg in enumerate(segments):
        body_idx = [j for j, b in enumerate(seg.blocks) if b.kind == BODY]
        if not body_idx:
            floating.extend((i, b) for b in seg.blocks)
            seg.blocks = []
            continue
        first, last = body_idx[0], body_idx[-1]
        floating.extend((i, b) for b in seg.blocks[:first])
        floating.extend((i, b) for b in seg.blocks[last + 1 :])
        interior = seg.blocks[first : last + 1]
        seg.captions.extend(b.text for b in interior if b.kind == CAPTION)
        seg.blocks = [b for b in interior if b.kind != CAPTION]
    return floating


def _assign_floating(segments: list[_Segment], floating: list[tuple[int, Block]]) -> None:
    """Give each displaced headline or caption to the article it shares the rarest character pairs with."""
    bodies = [i for i, s in enumerate(segments) if s.has_body]
    if not bodies or not floating:
        return
    # With one article, every headline and caption is its own (no need to compare their character pairs).
    grams = {i: set(char_bigrams(segments[i].body_text(), cjk_only=True)) for i in bodies} if len(bodies) > 1 else {}
    df: dict[str, int] = {}
    for g in grams.values():
        for gram in g:
            df[gram] = df.get(gram, 0) + 1
    n = len(bodies)
    for pos, block in floating:
        text = _PINYIN.sub("", _COLUMN_LABEL.sub("", block.text)).strip()
        if not text and not block.subtitle:
            continue
        wanted = set(char_bigrams(text + block.subtitle, cjk_only=True))

        def score(i: int) -> tuple[float, float]:
            overlap = sum(math.log((n + 1) / (df[g] + 0.5)) for g in wanted if g in grams[i])
            return overlap, -abs(i - pos) - (0.5 if i < pos else 0.0)  # nearest, then the following one

        best = max(bodies, key=score) if len(bodies) > 1 else bodies[0]
        target = segments[best]
        if block.kind == CAPTION:
            target.captions.append(text)
            continue
        if text:
            target.headings.append(text)
        if block.subtitle:
            target.subtitles.append(block.subtitle)


def build_articles(blocks: list[Block], default_title: str) -> ParsedDocument:
    segments = _split_segments(blocks)
    floating = _float_edges(segments)
    _assign_floating(segments, floating)
    bodies = [s for s in segments if s.has_body]
    parts: list[str] = []
    articles: list[Article] = []
    offset = 0
    for seg in bodies:
        # A page of one untitled story takes the document's own title; on a page of several, a story whose
        # headline is missing stays untitled rather than borrowing its first sentence.
        title = " ".join(seg.headings) or (default_title if len(bodies) == 1 else "")
        subtitle = " ".join(seg.subtitles)
        if not title and subtitle:  # the page printed only the kicker ("——小记如画沁水的…"): it is the headline
            title, subtitle = subtitle, ""
        heading_lines = [line for line in (title, f"——{subtitle}" if subtitle else "") if line]
        body_start_in_article = sum(len(line) + 1 for line in heading_lines)
        paragraphs = list(heading_lines)
        if seg.byline:
            paragraphs.append(seg.byline)
        paragraphs.extend(b.text for b in seg.blocks)
        paragraphs.extend(f"（图）{c}" for c in seg.captions)
        if seg.signature:
            paragraphs.append(seg.signature)
        article_text = "\n".join(paragraphs)
        if parts:
            offset += 2  # the "\n\n" between articles
        articles.append(
            Article(
                title=title,
                start=offset,
                body_start=offset + body_start_in_article,
                end=offset + len(article_text),
                byline=seg.byline or seg.signature,
                subtitle=subtitle,
            )
        )
        parts.append(article_text)
        offset += len(article_text)
    return ParsedDocument(text="\n\n".join(parts), articles=articles)


def parse_document(raw: str, default_title: str) -> ParsedDocument:
    """Normalize a page and split it into articles; default_title names a single untitled article."""
    return build_articles(normalize_blocks(raw), default_title)
