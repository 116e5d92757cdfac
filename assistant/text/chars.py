"""Characters of Chinese text: CJK ranges, width folding, spacing, and where sentences and clauses end."""

from __future__ import annotations

import re
import unicodedata

CJK = r"\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"

CJK_PUNCT = r"\u3000-\u303f\uff01-\uff0f\uff1a-\uff20\uff3b-\uff40\uff5b-\uff65\u2014-\u2026\u201c\u201d\u2018\u2019\u00b7"

SENTENCE_ENDS = "。！？；!?;…"

CLOSERS = "”’」』）)】》\"'"

CLAUSE_PUNCT = "，、；：。！？,;:"

_CJK_RE = re.compile(f"[{CJK}]")

CJK_RUN_RE = re.compile(f"[{CJK}]+")

def is_cjk(ch: str) -> bool:
    return bool(_CJK_RE.match(ch))

# Full-width ASCII to half-width, except the full-width punctuation Chinese text is written with.
_HALF_WIDTH = {code: code - 0xFEE0 for code in range(0xFF01, 0xFF5F) if chr(code) not in "，：；！？（）"} | {0x3000: " "}

_WIDE = frozenset(map(chr, _HALF_WIDTH))

_WIDE_RE = re.compile("[" + "".join(re.escape(c) for c in sorted(_WIDE)) + "]")

def fold_width(text: str) -> str:
    """Full-width ASCII (０-９, Ａ-Ｚ, ％) to half-width; other characters unchanged."""
    # str.translate looks every character up in a dict; a search first finds whether any needs it (a regex class
    # scans 8x faster than a set test, which makes a string of each character).
    return text.translate(_HALF_WIDTH) if _WIDE_RE.search(text) else text

# A space next to a CJK character or CJK punctuation is a print-layout artefact ("394.179 万元",
# "2024 年", "微克 /立方米"), except between two CJK characters, where it separates headline parts.
_SPACE_AFTER_CJK = re.compile(f"(?<=[{CJK}{CJK_PUNCT}])[ \\t]+(?=[^{CJK}\\s])")

_SPACE_BEFORE_CJK = re.compile(f"(?<=[^{CJK}\\s])[ \\t]+(?=[{CJK}{CJK_PUNCT}])")

_SPACE_AROUND_PUNCT = re.compile(f"[ \\t]+(?=[{CJK_PUNCT}])|(?<=[{CJK_PUNCT}])[ \\t]+")  # only spaces are matched

_SPACE_BEFORE_SLASH = re.compile(r"[ \t]+/|/[ \t]+")

# Print fonts map "×" to 伊 ("2伊100MW").
_TIMES_GLYPH = re.compile(r"(?<=\d)伊(?=\d)")

def tidy_spacing(line: str) -> str:
    """Remove layout spaces inside figures and around CJK punctuation; keep spaces between CJK words."""
    line = unicodedata.normalize("NFC", line).replace("\u00a0", " ")
    if "伊" in line:
        line = _TIMES_GLYPH.sub("×", line)
    if " " not in line and "\t" not in line:  # every rule below removes spaces or tabs
        return line.strip()
    line = _SPACE_AROUND_PUNCT.sub("", line)
    line = _SPACE_AFTER_CJK.sub("", line)
    line = _SPACE_BEFORE_CJK.sub("", line)
    line = _SPACE_BEFORE_SLASH.sub("/", line)
    return re.sub(r"[ \t]{2,}", " ", line).strip()

def cjk_count(text: str) -> int:
    """How many Chinese characters the text holds (a question with fewer than two is not written in Chinese)."""
    return len(_CJK_RE.findall(text))

_LATIN_WORD_RE = re.compile(r"[A-Za-z]{2,}")

def latin_word_count(text: str) -> int:
    """How many words of two or more Latin letters the text holds (an English question has several; a Chinese one's
    are names and units: PM2.5, GDP)."""
    return len(_LATIN_WORD_RE.findall(text))

def has_words(text: str) -> bool:
    """True if the text holds a Chinese character or a Latin word: something a question could be about ("？？？",
    "🙂🙂" and "%" hold none)."""
    return bool(re.search(f"[{CJK}]|[A-Za-z]{{2,}}", fold_width(text)))

def strip_spaces(text: str) -> str:
    return re.sub(r"\s+", "", text)

def ends_sentence(text: str) -> bool:
    """True if the text ends a sentence: 。！？；… possibly followed by closing quotes."""
    t = text.rstrip().rstrip(CLOSERS)
    return bool(t) and t[-1] in SENTENCE_ENDS

_SENTENCE_CUT = re.compile(f"\n|[{re.escape(SENTENCE_ENDS)}][{re.escape(SENTENCE_ENDS + CLOSERS)}]*")

def sentence_spans(text: str, start: int = 0, end: int | None = None) -> list[tuple[int, int]]:
    """Spans of sentences in text[start:end]: cut after 。！？；… (with trailing closers) and at newlines."""
    end = len(text) if end is None else end
    spans: list[tuple[int, int]] = []
    s = start
    for m in _SENTENCE_CUT.finditer(text, start, end):
        i, j = m.span()
        if text[i] == "\n":
            if text[s:i].strip():
                spans.append((s, i))
            s = i + 1
        else:
            spans.append((s, j))
            s = j
    if s < end and text[s:end].strip():
        spans.append((s, end))
    # Drop leading whitespace from spans so offsets point at text.
    out = []
    for a, b in spans:
        while a < b and text[a].isspace():
            a += 1
        if a < b:
            out.append((a, b))
    return out

def clause_spans(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """Spans cut at every clause mark (，、；：。！？) within text[start:end]."""
    spans, s = [], start
    for i in range(start, end):
        if text[i] in CLAUSE_PUNCT or text[i] == "\n":
            if i > s:
                spans.append((s, i + 1))
            s = i + 1
    if s < end:
        spans.append((s, end))
    return spans


_SURROGATE = re.compile("[\ud800-\udfff]")


def is_text(text: str) -> bool:
    """False for a string no UTF-8 text can hold: one with a lone surrogate (JSON's "\\ud800" decodes to one)."""
    return not _SURROGATE.search(text)
