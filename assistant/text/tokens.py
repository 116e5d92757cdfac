"""Words and tokens: jieba segmentation for BM25, character bigrams, word rarity, and tiktoken counts."""

from __future__ import annotations

import math
import re
from bisect import bisect_right
from functools import lru_cache
from itertools import accumulate
from operator import itemgetter
from pathlib import Path
from typing import Mapping

from .chars import CJK, CJK_PUNCT, CJK_RUN_RE, fold_width
from .script import to_simplified

# Segmentation runs on rjieba (jieba-rs: jieba's dictionary and algorithm in Rust, 15-25x faster than jieba's pure
# Python); jieba itself is still read for its dictionary's word frequencies and place names. jieba-rs keeps
# "2023-08-17", "RISC-V" and "3.5%" whole where jieba cuts at "-" and "%": those are cut the way jieba does, so the
# tokens of questions, passages and facts stay what they were.
_JOINED = re.compile(r"[A-Za-z0-9.+#&_]*[-%][A-Za-z0-9.+#&_%-]*")

_JOINT = re.compile(r"([-%])")

def _cut(text: str, for_search: bool = False) -> list[str]:
    """rjieba's words (search mode: also the shorter words inside longer ones), cut at "-" and "%" as jieba cuts."""
    import rjieba

    tokens = rjieba.cut_for_search(text) if for_search else rjieba.cut(text)
    if "-" not in text and "%" not in text:  # only those join tokens jieba cuts
        return tokens
    out: list[str] = []
    for tok in tokens:
        if len(tok) > 1 and ("-" in tok or "%" in tok) and _JOINED.fullmatch(tok):
            out.extend(piece for piece in _JOINT.split(tok) if piece)
        else:
            out.append(tok)
    return out

def _jieba_tags(tagged: list[tuple[str, str]], text: str) -> list[tuple[str, str]]:
    # Few tokens hold a '-' or '%': find them from where those characters stand in the text (the tokens cover it in
    # order), and copy the rest as they are.
    ends = list(accumulate(map(len, map(itemgetter(0), tagged))))
    marks = sorted({bisect_right(ends, m.start()) for m in _JOINT.finditer(text)})
    joined = [i for i in marks if len(tagged[i][0]) > 1 and _JOINED.fullmatch(tagged[i][0])]
    if not joined:
        return tagged
    out: list[tuple[str, str]] = []
    last = 0
    for i in joined:
        out.extend(tagged[last:i])
        out.extend((piece, "x" if piece in "-%" else "m" if re.fullmatch(r"[0-9.]+", piece) else "eng")
                   for piece in _JOINT.split(tagged[i][0]) if piece)
        last = i + 1
    out.extend(tagged[last:])
    return out

STOPWORDS = frozenset(
    "的 了 是 在 和 与 及 等 也 都 就 而 对 为 以 于 把 被 将 从 向 由 其 之 或 并 又 还 这 那 这个 那个 "
    "一个 有 个 中 上 下 里 着 过 吗 呢 吧 啊 呀 么 我 你 他 她 它 我们 你们 他们 请问 请 一下 "
    "多少 几 什么 哪 哪个 哪些 哪里 哪儿 哪年 哪天 谁 何 何时 怎么 怎样 如何 为什么 是否 多 少 "
    "共 一共 总共 共计 合计 达到 达 了解 知道 告诉 关于".split()
)

_PUNCT_TOKEN = re.compile(f"^[\\s{CJK_PUNCT}\\W_]+$")

def tokenize(text: str) -> list[str]:
    """Search-mode jieba tokens, lower-cased, in simplified characters, without punctuation or stopwords (for BM25
    and matching: a question in either script finds a document in either)."""
    return list(_tokenize_cached(text))

@lru_cache(maxsize=4096)
def _tokenize_cached(text: str) -> tuple[str, ...]:
    # A question is tokenized by each ranking that reads it (passage BM25, the article scores): the cache makes that once.
    if len(_TOKEN_FORMS) > TOKEN_FORMS_MAX:
        _TOKEN_FORMS.clear()
    forms = _TOKEN_FORMS
    tokens = []
    for tok in _cut(to_simplified(fold_width(text)), for_search=True):
        form = forms.get(tok)
        if form is None:
            form = forms[tok] = _token_form(tok)
        if form:
            tokens.append(form)
    return tuple(tokens)

# A token's indexed form, by the token: a vocabulary repeats, and a lookup costs a fifth of working it out again.
_TOKEN_FORMS: dict[str, str] = {}

TOKEN_FORMS_MAX = 1 << 19  # distinct tokens remembered (tens of MB at most); past it the memo starts over

def _token_form(tok: str) -> str:
    """Lower-cased and stripped; "" for a stopword or punctuation."""
    tok = tok.strip().lower()
    return "" if not tok or tok in STOPWORDS or _PUNCT_TOKEN.match(tok) else tok

_GRADE_SUFFIX = tuple("级类型号等档")

def word_at(text: str, position: int) -> str:
    """The jieba word of `text` that covers the character at `position` ("长" in "哪位部长" is inside 部长)."""
    start = 0
    for w in _cut(text):
        if start <= position < start + len(w):
            return w
        start += len(w)
    return ""

def words(text: str) -> list[str]:
    """Plain (non-overlapping) jieba words, punctuation kept out; "B"+"级" stays one word ("B级")."""
    out: list[str] = []
    for w in _cut(text):
        if not w.strip() or _PUNCT_TOKEN.match(w):
            continue
        if out and w in _GRADE_SUFFIX and re.fullmatch(r"[A-Za-z0-9Ⅰ-Ⅻ]{1,3}", out[-1]):
            out[-1] += w
            continue
        out.append(w)
    return out

def pos_words(text: str) -> list[tuple[str, str]]:
    """jieba words with part-of-speech flags (nr person, ns place, nt organisation, m number...)."""
    return list(_pos_words_cached(text))

@lru_cache(maxsize=8192)
def _pos_words_cached(text: str) -> tuple[tuple[str, str], ...]:
    # Tagging is the reader's dearest step (~4 ms a sentence); the same sentences come back within a turn
    # (its parts, a corrected place) and across the turns of a conversation.
    import rjieba

    tagged = rjieba.tag(text)
    if "-" not in text and "%" not in text:  # only those join tokens jieba cuts
        return tuple(tagged)
    return tuple(_jieba_tags(tagged, text))

def char_bigrams(text: str, cjk_only: bool = False) -> list[str]:
    """Overlapping character bigrams of the CJK/alphanumeric runs, a one-character run as itself (robust to
    segmentation), in simplified characters. `cjk_only`: Chinese runs only and no one-character runs, for matching
    a print page's headlines to articles, where digits and Latin letters are layout noise."""
    text = to_simplified(text)
    if cjk_only:
        return [run[i : i + 2] for run in CJK_RUN_RE.findall(text) for i in range(len(run) - 1)]
    text = fold_width(text).lower()
    grams = []
    for run in re.findall(f"[{CJK}a-z0-9.]+", text):
        if len(run) == 1:
            grams.append(run)
        grams.extend(run[i : i + 2] for i in range(len(run) - 1))
    return grams

# char_bigrams as integer codes, for indexing whole articles at numpy speed: a bigram "ab" is ord(a) << 21 | ord(b),
# a one-character run "a" is ord(a) << 21 | ONE_CHAR (no character has that code point).
_CODE_SHIFT = 21

_ONE_CHAR = (1 << _CODE_SHIFT) - 1

_GRAM_RANGES = ((0x3400, 0x4DBF), (0x4E00, 0x9FFF), (0xF900, 0xFAFF), (ord("a"), ord("z")), (ord("0"), ord("9")),
                (ord("."), ord(".")))  # the characters of char_bigrams' runs: CJK, a-z, 0-9 and "."

def char_bigram_codes(text: str):
    """char_bigrams(text) as an int64 numpy array of codes, in the same order (decode one with bigram_of_code)."""
    import numpy as np

    text = fold_width(to_simplified(text)).lower()
    cp = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32).astype(np.int64)
    inside = np.zeros(len(cp) + 2, dtype=bool)  # padded: a run never continues past either end
    for lo, hi in _GRAM_RANGES:
        inside[1:-1] |= (cp >= lo) & (cp <= hi)
    pair = inside[1:-2] & inside[2:-1]  # cp[i] and cp[i + 1] are both in a run
    alone = inside[1:-1] & ~inside[:-2] & ~inside[2:]
    # Each run's codes in order: a lone character where it stands, each bigram at its first character (no position
    # is both: a lone character has no neighbour in a run), read off in position order without a sort.
    codes = (cp << _CODE_SHIFT) | _ONE_CHAR
    codes[:-1][pair] = (cp[:-1][pair] << _CODE_SHIFT) | cp[1:][pair]
    keep = alone.copy()
    keep[:-1] |= pair
    return codes[keep]

def bigram_of_code(code: int) -> str:
    first, second = code >> _CODE_SHIFT, code & _ONE_CHAR
    return chr(first) if second == _ONE_CHAR else chr(first) + chr(second)

_TOTAL_KEY = ""  # where the cached table keeps the frequencies' sum: jieba has no empty word

@lru_cache(maxsize=1)
def word_idf() -> tuple[Mapping[str, int], float]:
    """jieba's bundled dictionary frequencies and their log total. Read from its dict.txt once per machine (0.4 s,
    a sixth of a cold question; jieba's own start-up, which also builds a prefix dictionary we do not need, takes
    three times as long), then opened from a SortedTable copy in the user's cache folder (under a millisecond,
    where a pickled dict took 0.1 s)."""
    import importlib.util
    import os

    from assistant.text.table import SortedTable

    source = Path(list(importlib.util.find_spec("jieba").submodule_search_locations)[0]) / "dict.txt"
    stat = source.stat()
    cache_dir = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "news-qa-assistant"
    cached = cache_dir / f"word_idf-{stat.st_size}-{stat.st_mtime_ns}.table"
    try:
        table = SortedTable.open(cached)
        return table, math.log(table[_TOTAL_KEY])
    except (OSError, ValueError, KeyError):
        pass
    freq: dict[str, int] = {}
    with open(source, encoding="utf-8") as f:
        for line in f:
            word, count = line.split(" ", 2)[:2]
            freq[word] = int(count)
    freq.pop(_TOTAL_KEY, None)
    total = sum(freq.values())
    try:  # written whole or not at all; a read-only home just reads dict.txt each time
        cache_dir.mkdir(parents=True, exist_ok=True)
        part = cached.with_suffix(f".{os.getpid()}.part")
        SortedTable.write(part, {**freq, _TOTAL_KEY: total})
        os.replace(part, cached)
    except OSError:
        pass
    return freq, math.log(total)

@lru_cache(maxsize=1 << 17)
def rarity(token: str) -> float:
    """Rarity weight of a token: dictionary IDF, a high default for unseen words and numbers."""
    freq, log_total = word_idf()
    f = freq.get(token, 0) if token != _TOTAL_KEY else 0
    if f > 0:
        return max(log_total - math.log(f + 1), 1.0)
    if re.fullmatch(r"[\d.]+", token):
        return 9.0
    return 12.0 if len(token) > 1 else 8.0


@lru_cache(maxsize=1)
def _encoding():
    import tiktoken  # offline: TIKTOKEN_CACHE_DIR points at llama-index-core's bundled copy (offline.py)

    return tiktoken.get_encoding("cl100k_base")


def count_tokens(text: str) -> int:
    """The text's length in cl100k tokens: the unit of the chunk budget and of an LLM prompt's room."""
    return len(_encoding().encode(text, disallowed_special=()))
