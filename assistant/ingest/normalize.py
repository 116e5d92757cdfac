"""Raw page text to classified paragraphs: rejoin hard-wrapped lines, lift captions, spot headlines and bylines."""

from __future__ import annotations

import re
import statistics
import unicodedata
from dataclasses import dataclass

from ..text.chars import CJK, CLOSERS, ends_sentence, tidy_spacing
from ..text.names import BYLINE_ROLE
from ..text.script import to_simplified

BODY, HEADING, BYLINE, SIGNATURE, CAPTION = "body", "heading", "byline", "signature", "caption"


@dataclass
class Block:
    """A paragraph of the page with what it is: body text, headline, byline, signature or photo caption."""

    kind: str
    text: str
    lead: bool = False  # a body paragraph that opens a news item ("科学导报讯 ...")
    subtitle: str = ""  # a headline's dash line ("——阳城县生态环保工作综述"), without the dashes


# Fonts in print PDFs map the bullet before a byline to 姻 ("姻 科学导报记者 来虹").
_BULLET = re.compile(r"^(?:[■●◆▲□]|姻(?=\s))\s*")
_CAPTION = re.compile(r"图片?由[^。，；]{1,40}提供$|^图为|（?(?:记者|通讯员)?\s*[\u4e00-\u9fff]{2,4}\s*摄）?$")
_BYLINE = re.compile(f"{BYLINE_ROLE}[\\s{CJK}]{{1,24}}$")
_LEAD = re.compile(r"^(?:科学导报讯|本报讯|新华社|科学导报(?=\s|\d|[（(]))")
_SIGNATURE = re.compile(f"^[{CJK}]{{2,3}}$")
_MD_HEADING = re.compile(r"^#{1,6}\s+")
_INNER_PUNCT = re.compile(r"[，。；！？,;!?]")
_LETTER = re.compile(r"[^\W\d_]")  # a letter of any script
_DATELINE = re.compile(r"^\d{4}\s*[-/.年]\s*\d{1,2}\s*[-/.月]\s*\d{1,2}日?(?:\s*\d{1,2}:\d{2}(?::\d{2})?)?(?:\s|，|,|$)")


def _width(line: str) -> float:
    """Display width in CJK characters: ASCII counts half."""
    return len(line) - 0.5 * len(line.encode("ascii", "ignore"))


def _has_words(line: str) -> bool:
    """At least two letters (Chinese or other): a line of figures and marks ("2023/07/25 17:07", "[") is no headline."""
    return len(_LETTER.findall(line)) >= 2


def _is_heading_like(line: str, hard_wrapped: bool, column: float) -> bool:
    if line.startswith("—") or line.startswith("——"):
        return True
    if not _has_words(line):
        return False
    if ends_sentence(line) or _INNER_PUNCT.search(line) or line.endswith(("，", "、", "：", ",")):
        return False
    w = _width(line)
    if w > MAX_HEADLINE_WIDTH:
        return False
    # In a hard-wrapped column a paragraph's first line fills the column; a headline does not.
    return not hard_wrapped or w < 0.8 * column


MAX_HEADLINE_WIDTH = 40  # display width (CJK characters) beyond which a line is a paragraph, not a headline
MAX_COLUMN_WIDTH = 40  # a page whose median line is wider is not print wrapped at a column
WRAPPED_LINE_SPREAD = 2.0  # in hard-wrapped print a line (a caption, a table row) rarely runs past twice the column
MAX_OVERLONG_SHARE = 0.1  # ... so when a tenth of the lines do, the lines are paragraphs, not a wrapped column
MIN_WRAPPED_LINES = 6  # a headline, a dateline and a sentence are three short lines, not a column
# How a first line may end and still be a headline: a statement's full stop, or a clause mark that the next line
# would continue, make it body text; "！" and "？" end headlines as often as sentences.
_NOT_HEADLINE_ENDS = ("。", "；", ";", "，", ",", "、", "：", ":")


# A space before a mark that closes or separates ("减弱 ，") is layout; one before an opening quote or bracket
# ("缤纷假期 “暑”你精彩") parts two phrases of a headline.
_SPACE_BEFORE_PUNCT = re.compile(r"[ \t]+(?=[，。、；：？！）》」』”’…,.;:?!)])")


def _typed_heading(line: str) -> str:
    """A typed headline with its spaces collapsed, not removed: only a space before a closing mark goes."""
    return _SPACE_BEFORE_PUNCT.sub("", " ".join(unicodedata.normalize("NFC", line).split()))


def _is_dateline(text: str) -> bool:
    """A line that dates the story and names its source ("2023-07-25 22:44，澎湃新闻记者 吕新文"): it ends no sentence,
    yet the story's first paragraph does not continue it."""
    return _width(text) <= MAX_HEADLINE_WIDTH and bool(_DATELINE.match(text))


def _opens_as_headline(line: str) -> bool:
    """The first line of a page of one-line paragraphs read as its headline, punctuation and all ("女子地铁喝水收到告知单，
    官方：只是告知，并未罚款"): short, with no full stop, not ending as a clause the next line would continue."""
    bare = line.rstrip(CLOSERS)
    return (_width(line) <= MAX_HEADLINE_WIDTH and "。" not in line and _has_words(bare)
            and not bare.endswith(_NOT_HEADLINE_ENDS))


def _heading_block(lines: list[str]) -> Block:
    """A run of headline lines: those before a dash line are the headline, the dash line and any after it the
    subtitle (a headline the page printed only as its subtitle has no text, just the subtitle)."""
    title: list[str] = []
    subtitle: list[str] = []
    for line in lines:
        if line.startswith("—") or subtitle:
            subtitle.append(line.lstrip("—").strip())
        else:
            title.append(line)
    return Block(HEADING, " ".join(t for t in title if t), subtitle=" ".join(t for t in subtitle if t))


def normalize_blocks(raw: str) -> list[Block]:
    """Classify and rejoin the lines of a page into paragraphs, in page order."""
    lines: list[str] = []
    typed: list[str] = []  # each line before its spaces were tidied (a typed headline's spaces part its phrases)
    md_headings: set[int] = set()  # indexes of lines that were markdown headings ("# 标题")
    for line in raw.splitlines():
        line = _BULLET.sub("", line.strip())
        is_md = bool(_MD_HEADING.match(line))
        line = _MD_HEADING.sub("", line)
        tidy = tidy_spacing(line)
        if tidy:
            if is_md:
                md_headings.add(len(lines))
            lines.append(tidy)
            typed.append(line)
    if not lines:
        return []
    widths = [_width(x) for x in lines]
    column = statistics.median(widths)
    ending = sum(ends_sentence(x) for x in lines) / len(lines)
    # Print wrapped at a column: most lines short and unfinished, and hardly any far wider than the column. A short
    # file of one-line paragraphs (headline, dateline, one long paragraph) has a short median too, but its
    # paragraphs run far past it.
    overlong = sum(w > WRAPPED_LINE_SPREAD * column for w in widths) / len(lines)
    hard_wrapped = (len(lines) >= MIN_WRAPPED_LINES and column <= MAX_COLUMN_WIDTH and ending < 0.5
                    and overlong < MAX_OVERLONG_SHARE)

    blocks: list[Block] = []
    current: Block | None = None
    heading_lines: list[str] = []

    def heading(n: int) -> str:
        """Line n as a headline: print's spaces are layout, a typed headline's part its phrases."""
        return lines[n] if hard_wrapped else _typed_heading(typed[n])

    def flush() -> None:
        nonlocal current, heading_lines
        if heading_lines:
            blocks.append(_heading_block(heading_lines))
            heading_lines = []
        if current is not None:
            current.text = tidy_spacing(current.text)
            blocks.append(current)
            current = None

    for n, line in enumerate(lines):
        if n in md_headings:
            flush()
            heading_lines.append(heading(n))
            continue
        folded = to_simplified(line)  # the markers are matched in simplified characters (記者 -> 记者)
        if _CAPTION.search(folded) and _width(line) <= 60:
            # A caption may cut a sentence in two: leave the open paragraph open.
            blocks.append(Block(CAPTION, line))
            continue
        is_lead = bool(_LEAD.match(folded))
        is_byline = bool(_BYLINE.match(folded)) and _width(line) <= 24
        if (current is not None and not ends_sentence(current.text) and not (is_lead or is_byline)
                and not _is_dateline(current.text)):
            current.text += line
            continue
        if is_byline:
            flush()
            blocks.append(Block(BYLINE, line))
            continue
        if is_lead:
            flush()
            current = Block(BODY, line, lead=True)
            continue
        prev = blocks[-1] if blocks and current is None and not heading_lines else current
        if _SIGNATURE.match(line) and prev is not None and prev.kind == BODY and ends_sentence(prev.text):
            flush()
            blocks.append(Block(SIGNATURE, line))
            continue
        if _is_heading_like(line, hard_wrapped, column) or (
                n == 0 and len(lines) > 1 and not hard_wrapped and _opens_as_headline(line)):
            if current is not None:
                flush()
            heading_lines.append(heading(n))
            continue
        flush()
        current = Block(BODY, line)
    if heading_lines and not hard_wrapped and any(b.kind == BODY for b in blocks) and current is None:
        # Short lines after the last paragraph of typed text ("【编辑:邵婉云】 更多精彩内容请进入国内新闻") close the
        # story; only print sets a headline below its article.
        blocks.append(Block(BODY, tidy_spacing(" ".join(heading_lines))))
        heading_lines = []
    flush()
    return blocks
