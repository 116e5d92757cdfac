"""Chinese text rules in one place: width folding, spacing, sentence ends, tokens and figures."""

from __future__ import annotations

import math
import re
import unicodedata
from bisect import bisect_right
from functools import lru_cache
from itertools import accumulate
from operator import itemgetter
from pathlib import Path
from typing import Mapping

# --- characters -------------------------------------------------------------------------

CJK = r"\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
CJK_PUNCT = r"\u3000-\u303f\uff01-\uff0f\uff1a-\uff20\uff3b-\uff40\uff5b-\uff65\u2014-\u2026\u201c\u201d\u2018\u2019\u00b7"
SENTENCE_ENDS = "。！？；!?;…"
CLOSERS = "”’」』）)】》\"'"
CLAUSE_PUNCT = "，、；：。！？,;:"

_CJK_RE = re.compile(f"[{CJK}]")
_CJK_RUN_RE = re.compile(f"[{CJK}]+")


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
    return bool(re.search(f"[{CJK}]|[A-Za-z]{{2,}}", to_simplified(fold_width(text))))


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


# --- tokens -----------------------------------------------------------------------------

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
        return [run[i : i + 2] for run in _CJK_RUN_RE.findall(text) for i in range(len(run) - 1)]
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


# --- places and roles -------------------------------------------------------------------

ADMIN_SUFFIXES = "省市县区旗州"


def short_place(word: str) -> str:
    """A place without its administrative suffix, so 沁水县 and 沁水 match: "阳城县" -> "阳城" (two characters stay)."""
    return word[:-1] if len(word) >= 3 and word[-1] in ADMIN_SUFFIXES else word


# Titles that stand before a person's name ("副局长王大勇"); longer ones first, so 副局长 wins over 局长.
ROLE_WORDS = (
    "副局长", "局长", "党组书记", "书记", "副主任", "主任", "副组长", "组长", "副县长", "县长", "副市长", "市长",
    "处长", "科长", "站长", "队长", "主席", "记者",
)


# --- figures ----------------------------------------------------------------------------

CN_DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}
CN_UNITS = {"十": 10, "百": 100, "千": 1000}
CN_MAGNITUDE = {"万": 1e4, "亿": 1e8}

NUM = r"(?:\d+(?:,\d{3})*(?:\.\d+)?)"
CN_NUM = r"[零〇一二两三四五六七八九十百千]+"

_UNIT_WORDS = (
    "微克/立方米|毫克/立方米|毫克/升|立方米/秒|立方米每秒|平方公里|平方米|立方米|公里|千米|千瓦|兆瓦|万千瓦|MW|kW|"
    "个百分点|百分点|家次|人次|台次|车次|户次|架次|批次|"
    "千瓦时|摄氏度|℃|平方千米|毫米|厘米|英寸|号线|个工作日|个月|周年|"
    "人民币|万美元|亿美元|美元|万港元|亿港元|港元|欧元|日元|英镑|万元|亿元|元|万吨|吨|千克|公斤|万亩|亩|公顷|米|"
    "艘|架|岁|倍|成|间|层|届|集|首|篇|枚|颗|匹|头|张|份|票|股|手|列|根|例|款|支|本|栋|幢|盏|"
    "家|件|个|项|台|辆|座|条|处|套|户|名|人|位|次|起|天|日|小时|分钟|年|月|周|所|批|场|期|大类|类|宗|块|棵|株|只|"
    "微克|毫克|克|%|％"
)
# Longest first, so that a unit is read whole: 千瓦时 not 千瓦, 人民币 not 人, 个工作日 not 个.
UNITS = "|".join(sorted(_UNIT_WORDS.split("|"), key=len, reverse=True))
# A figure: number (arabic or Chinese) + optional 余/多 + optional magnitude + unit.
FIGURE_RE = re.compile(
    # 余/多 ("more than") stands after the number (3000余人), its magnitude (2万余元) or its unit (1米多).
    f"(?P<num>{NUM}|{CN_NUM})(?P<qual>余|多)?(?P<mag>万|亿)?(?P<qual_mag>余|多)?(?P<unit>{UNITS})?(?P<qual2>余|多)?"
)
DATE_RE = re.compile(
    r"(?:(?:19|20)\d{2}年)?(?:\d{1,2}|[一二三四五六七八九十]{1,3})月(?:\d{1,2}|[一二三四五六七八九十]{1,3})日"
    r"(?:上午|下午|晚上|晚|早上)?|(?:19|20)\d{2}年\d{1,2}月|(?:\d{1,2})月(?:底|初|中旬|上旬|下旬)"
)
# A year: "2024年", or a bare 2024 that is not part of a code or range ("DB14/3176-2024", "2+36").
YEAR_RE = re.compile(r"(?<![\d\-/.A-Za-z+])((?:19|20)\d{2})(?:年|(?=[^\d\-/.A-Za-z]|$))")


# Two figures are the same when they agree to this relative tolerance (floats from 万/亿 folding and decimals).
FIGURE_TOLERANCE = 1e-6


def same_figure(a: float, b: float) -> bool:
    """394.179万元 and 3,941,790元 are the same figure once magnitudes are folded: equal within FIGURE_TOLERANCE."""
    return abs(a - b) <= FIGURE_TOLERANCE * max(abs(a), 1.0)


_CN_NUMERAL = "零〇一二两三四五六七八九十百千万亿"
_CN_PERCENT = re.compile(f"百分之([{_CN_NUMERAL}]+|\\d+(?:\\.\\d+)?)(?:点([零〇一二三四五六七八九]+))?")
_CN_DECIMAL = re.compile(f"([{_CN_NUMERAL}]+)点([零〇一二三四五六七八九]+)")


def arabic_decimals(text: str) -> str:
    """Chinese-numeral percentages and decimals in Arabic digits, so figure matching reads them: 百分之九十九 ->
    99%, 三百九十四点一七九万元 -> 394.179万元 (the rest of the text unchanged)."""

    def number(whole: str, frac: str | None) -> str | None:
        value = float(whole) if whole[0].isdigit() else cn_to_number(whole)
        if value is None:
            return None
        digits = "".join(str(CN_DIGITS[ch]) for ch in frac) if frac else ""
        return f"{int(value)}.{digits}" if digits else f"{value:g}"

    text = _CN_PERCENT.sub(lambda m: (f"{n}%" if (n := number(m.group(1), m.group(2))) else m.group(0)), text)
    return _CN_DECIMAL.sub(lambda m: number(m.group(1), m.group(2)) or m.group(0), text)


def cn_to_number(text: str) -> float | None:
    """两 → 2, 十四 → 14, 三百二十 → 320, 五 → 5, 一万 → 10000, 三百九十四万一千七百九十 → 3941790; None if not a
    Chinese numeral."""
    if not text or any(ch not in CN_DIGITS and ch not in CN_UNITS and ch not in CN_MAGNITUDE for ch in text):
        return None
    if len(text) > 1 and not any(ch in CN_UNITS or ch in CN_MAGNITUDE for ch in text):  # positional: 二〇二四 -> 2024
        return float("".join(str(CN_DIGITS[ch]) for ch in text))
    total, section, current = 0.0, 0, 0  # total: whole 亿 and 万 groups; section: below 万; current: last digit
    for ch in text:
        if ch in CN_DIGITS:
            current = CN_DIGITS[ch]
        elif ch in CN_UNITS:
            section += (current or 1) * CN_UNITS[ch]
            current = 0
        elif ch == "亿":
            total = (total + section + current or 1) * CN_MAGNITUDE[ch]
            section = current = 0
        else:  # 万
            total += (section + current or 1) * CN_MAGNITUDE[ch]
            section = current = 0
    return float(total + section + current)


_CN_YEAR = re.compile(r"([零〇一二两三四五六七八九十百千]{2,})(?=年)")


@lru_cache(maxsize=1)
def _t2s_table() -> dict[int, str]:
    """OpenCC's traditional-to-simplified character table (each character to its first simplified form)."""
    import opencc

    table: dict[int, str] = {}
    path = Path(opencc.__file__).parent / "dictionary" / "TSCharacters.txt"
    for line in path.read_text(encoding="utf-8").splitlines():
        source, _, targets = line.partition("\t")
        if len(source) == 1 and targets:
            target = targets.split()[0]
            if len(target) == 1 and target != source:
                table[ord(source)] = target
    # CJK compatibility ideographs (豈 U+F900 …) are their unified character under NFC, which tidy_spacing applies:
    # fold them here too, or the simplified form would need a second pass (曆 U+F98B -> 曆 -> 历).
    for code in [*range(0xF900, 0xFB00), *range(0x2F800, 0x2FA20)]:
        unified = unicodedata.normalize("NFC", chr(code))
        if len(unified) == 1 and unified != chr(code):
            table[code] = table.get(ord(unified), unified)
    for code, target in table.items():  # one pass reaches the end of a chain (薴 -> 苧 -> 苎)
        while len(target) == 1 and ord(target) in table and table[ord(target)] != target:
            target = table[ord(target)]
        table[code] = target
    return table


def to_simplified(text: str) -> str:
    """Traditional characters to simplified, one character for one (沁水縣 -> 沁水县); simplified text is unchanged.

    One for one, so a folded text lines up with its original: an offset into one is the same offset into the
    other. Matching runs on folded text, and what is quoted is cut from the original at the same offsets."""
    return text if _traditional().isdisjoint(text) else text.translate(_t2s_table())


@lru_cache(maxsize=1)
def _traditional() -> frozenset[str]:
    """The characters to_simplified changes: most text has none, and a set test finds that 5x faster than
    translating (a dict lookup a character)."""
    return frozenset(chr(code) for code, target in _t2s_table().items() if target != chr(code))


def normalize_question(text: str) -> str:
    """What the answerer reads: half-width, simplified, years in digits (二〇二四年 -> 2024年), no layout spaces."""
    text = to_simplified(fold_width(text)).strip()

    def year(m: re.Match) -> str:
        value = cn_to_number(m.group(1))
        return str(int(value)) if value and 1900 <= value <= 2100 else m.group(1)

    return tidy_spacing(_CN_YEAR.sub(year, text))


@lru_cache(maxsize=256)
def _pinyin_cached(text: str) -> tuple[str, ...]:
    from pypinyin import lazy_pinyin

    return tuple(lazy_pinyin(text, errors=lambda chars: list(chars)))


def pinyin(text: str) -> list[str]:
    """Toneless pinyin per character (for matching place names typed with a wrong homophone)."""
    return list(_pinyin_cached(text))  # one item per character


@lru_cache(maxsize=1)
def _syllables() -> frozenset[str]:
    """Every toneless pinyin syllable (about 400), read from pypinyin's own table."""
    from pypinyin.constants import PINYIN_DICT
    from pypinyin import lazy_pinyin

    return frozenset(lazy_pinyin("".join(chr(c) for c in PINYIN_DICT if 0x4E00 <= c <= 0x9FFF)))


def pinyin_syllables(word: str) -> list[str] | None:
    """A Latin word cut into pinyin syllables ("Qinshui" -> qin shui), or None if it is not pinyin."""
    word = word.lower()
    known = _syllables()

    def cut(i: int) -> list[str] | None:
        if i == len(word):
            return []
        for j in range(min(len(word), i + 6), i, -1):  # longest syllable first: "xian" before "xi an"
            if word[i:j] in known:
                rest = cut(j)
                if rest is not None:
                    return [word[i:j], *rest]
        return None

    return cut(0) if word.isascii() and word.isalpha() else None


@lru_cache(maxsize=1)
def _places_by_sound() -> dict[str, tuple[str, ...]]:
    """jieba's dictionary of place names (tagged ns), and their short forms without 市/县/区, by toneless pinyin."""
    import jieba
    from pypinyin import lazy_pinyin

    by_sound: dict[str, list[str]] = {}
    with open(Path(jieba.__file__).parent / "dict.txt", encoding="utf-8") as f:
        for line in f:
            parts = line.split()
            if len(parts) != 3 or parts[2] != "ns" or not 2 <= len(parts[0]) <= 6:
                continue
            for name in dict.fromkeys([parts[0], short_place(parts[0])]):
                if len(name) >= 2:
                    by_sound.setdefault("".join(lazy_pinyin(name)), []).append(name)
    return {k: tuple(dict.fromkeys(v)) for k, v in by_sound.items()}


def places_sounding(latin: str) -> list[str]:
    """Chinese place names that read as this pinyin ("Jinzhong" -> 晋中; "Shanxi" -> 山西, 陕西 ...)."""
    return list(_places_by_sound().get(re.sub(r"[^a-z]", "", latin.lower()), ()))


def years_in(text: str) -> list[str]:
    return YEAR_RE.findall(fold_width(text))


def most_named(years: list[str]) -> str | None:
    """The year named most often in this list (the first named, on a tie): of an article's years (years_in), the year
    it is about."""
    return max(dict.fromkeys(years), key=years.count) if years else None


# What happens to the people a count counts in the news: "650人被困", "一人重伤".
CASUALTY = "死亡|遇难|身亡|失踪|受伤|重伤|轻伤|获救|被困|确诊|感染|落水|送医"
# "一人重伤": one as a count of people hurt, not as an article ("一名女子").
_ONE_COUNTED = re.compile(f"[人名](?:{CASUALTY})")
# 成 after a number is a tenth ("超九成") unless it starts a word ("三成为", "两成员").
_NOT_TENTHS = re.compile(r"[为员立功就本果交长熟品型]")


def negative(sentence: str, m: re.Match) -> bool:
    """True when the figure carries a minus sign as written in a report ("净利润为-685.25万元", "回报-24.58%"): the
    sign follows a word or a colon, not a letter or digit as in a code ("DB14/3176-2024")."""
    a = m.start()
    return a >= 2 and sentence[a - 1] in "-−－" and not (sentence[a - 2].isascii() and sentence[a - 2].isalnum())


def figure_matches(sentence: str, signed: bool = False) -> list[re.Match]:
    """Figures that state a quantity: a unit (or a magnitude or decimal) is required; dates, years, ordinals
    (第四), and digits inside codes (PM2.5, SO2, DB14/3176-2024, 2+36) are not figures. With `signed`, a figure
    after a minus sign (see `negative`) is kept, for a reader that keeps its sign."""
    dates = [(m.start(), m.end()) for m in DATE_RE.finditer(sentence)]
    out = []
    for m in FIGURE_RE.finditer(sentence):
        a, b = m.start(), m.end()
        num, unit = m.group("num"), (m.group("unit") or "").replace("％", "%")
        if any(a < de and b > ds for ds, de in dates):
            continue
        before = sentence[a - 1] if a > 0 else ""
        after = sentence[b] if b < len(sentence) else ""
        if before and ((before.isascii() and before.isalnum()) or before in "+.-/×") and not (signed and negative(sentence, m)):
            continue  # part of a code or a specification: "PM2.5", "DB14/3176", "2×100MW"
        if unit == "成" and _NOT_TENTHS.match(after):
            continue
        if before == "第" or (after.isascii() and after.isalpha() and not unit):  # "100MW", not "69家TSP"
            continue
        if not unit and not m.group("mag") and "." not in num:
            continue
        if unit in ("年", "月", "日") and not (num.isdigit() and int(num) < 100 and unit == "年"):
            continue
        if re.fullmatch(r"[一二两三四五六七八九十百千零〇]+", num) and not unit:
            continue
        # "一个" is mostly an article; it counts in an enumeration of counts ("一个国控、两个市控断面").
        if num == "一" and not re.match(f"[^，。；]{{0,8}}、(?:{NUM}|{CN_NUM})(?:{UNITS})", sentence[b:]) and not (
                unit in ("人", "名") and _ONE_COUNTED.match(sentence, b - 1)):
            continue
        out.append(m)
    return out


_NUMBER_WITH_CN = re.compile(f"(?P<num>{NUM}|[零〇一二两三四五六七八九十百千]+)(?P<mag>万|亿)?")


def figure_values(text: str) -> list[tuple[float, str]]:
    """Figures as (value, base unit) with magnitudes folded in: "394.179万元" and "3,941,790元" -> (3941790.0, "元")."""
    text = fold_width(strip_spaces(text))
    out = []
    for m in FIGURE_RE.finditer(text):
        raw = m.group("num")
        value = float(raw.replace(",", "")) if re.match(r"\d", raw) else cn_to_number(raw)
        if value is None:
            continue
        unit = (m.group("unit") or "").replace("％", "%")
        mag = m.group("mag")
        if unit.startswith(("万", "亿")) and len(unit) > 1 and unit not in ("万千瓦",):
            mag, unit = unit[0], unit[1:]
        if mag:
            value *= CN_MAGNITUDE[mag]
        out.append((round(value, 6), unit))
    return out
