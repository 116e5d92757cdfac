"""Figures in Chinese text: numerals, units, years, and the figures a sentence states."""

from __future__ import annotations

import re

from .chars import fold_width, strip_spaces

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


# --- English numbers, for checking an English answer's figures ------------------------------------------------------

_EN_SMALL = {w: n for n, w in enumerate(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
    "seventeen eighteen nineteen".split())}
_EN_TENS = {w: 10 * n for n, w in enumerate("twenty thirty forty fifty sixty seventy eighty ninety".split(), start=2)}
_EN_SCALES = {"hundred": 100, "thousand": 1e3, "million": 1e6, "billion": 1e9}
_EN_WORD = "|".join(sorted([*_EN_SMALL, *_EN_TENS, *_EN_SCALES], key=len, reverse=True))
# A run of number words ("three hundred and ninety-four", "two point five"), or Arabic digits before a scale word.
_EN_RUN = re.compile(rf"\b(?:{_EN_WORD})(?:(?:[\s-]+|\s+and\s+)(?:{_EN_WORD}))*(?:\s+point(?:\s+(?:{'|'.join(list(_EN_SMALL)[:10])}))+)?\b",
                     re.IGNORECASE)
_EN_SCALED = re.compile(rf"({NUM})\s*(hundred|thousand|million|billion)\b", re.IGNORECASE)
_EN_PERCENT = re.compile(r"(\d+(?:\.\d+)?)\s*(?:percent|per cent)\b", re.IGNORECASE)


def _en_words_value(words: str) -> float | None:
    whole, _, frac = words.lower().partition(" point ")
    total, current = 0.0, 0.0
    for word in re.split(r"[\s-]+", whole.replace(" and ", " ")):
        if not word:
            continue
        if word in _EN_SMALL:
            current += _EN_SMALL[word]
        elif word in _EN_TENS:
            current += _EN_TENS[word]
        elif word == "hundred":
            current = (current or 1) * 100
        elif word in _EN_SCALES:
            total += (current or 1) * _EN_SCALES[word]
            current = 0.0
        else:
            return None
    value = total + current
    if frac:
        value = float(f"{int(value)}." + "".join(str(_EN_SMALL[w]) for w in frac.split()))
    return value


def _plain_number(value: float) -> str:
    return f"{value:.6f}".rstrip("0").rstrip(".")


# English units after a number, in the Chinese the figure rules read (so "3941790 yuan" is money, as 394.179万元 is).
_EN_UNITS = {"yuan": "元", "rmb": "元", "tons": "吨", "tonnes": "吨", "ton": "吨", "tonne": "吨", "people": "人",
             "persons": "人", "cases": "件", "days": "天", "hectares": "公顷", "mu": "亩", "households": "户",
             "enterprises": "家", "companies": "家", "kilometers": "公里", "kilometres": "公里", "km": "公里"}
_EN_UNIT = re.compile(rf"({NUM})\s*({'|'.join(sorted(_EN_UNITS, key=len, reverse=True))})\b", re.IGNORECASE)


def _words_to_digits(m: re.Match) -> str:
    words = m.group(0)
    # "one of the counties", "no one": a pronoun far more often than a figure; a lone scale word belongs to the
    # digits before it ("3.9 million"), read next.
    if words.lower() == "one" or words.lower() in _EN_SCALES:
        return words
    value = _en_words_value(words)
    return words if value is None else _plain_number(value)


def english_numerals(text: str) -> str:
    """English numbers in Arabic digits, so an English answer's figures are checked like a Chinese one's: "three
    hundred ninety-four" -> 394, "3.94179 million" -> 3941790, "12 percent" -> 12% (the rest unchanged)."""
    text = _EN_RUN.sub(_words_to_digits, text)
    text = _EN_SCALED.sub(lambda m: _plain_number(float(m.group(1).replace(",", "")) * _EN_SCALES[m.group(2).lower()]), text)
    text = _EN_PERCENT.sub(lambda m: f"{m.group(1)}%", text)
    return _EN_UNIT.sub(lambda m: m.group(1) + _EN_UNITS[m.group(2).lower()], text)


_EN_MONTHS = {m: n for n, m in enumerate(
    "january february march april may june july august september october november december".split(), start=1)}
EN_DATE_RE = re.compile(rf"\b({'|'.join(m.capitalize() for m in _EN_MONTHS)})\s+(\d{{1,2}})(?:st|nd|rd|th)?\b")


def english_dates(text: str) -> list[tuple[str, str]]:
    """English dates of the text, each with its Chinese form: ("March 5", "3月5日")."""
    return [(m.group(0), f"{_EN_MONTHS[m.group(1).lower()]}月{int(m.group(2))}日") for m in EN_DATE_RE.finditer(text)]
