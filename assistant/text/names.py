"""Names in news text: places (their administrative suffix, their pinyin), the roles before a person's name, and bylines."""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

from .script import to_simplified

ADMIN_SUFFIXES = "省市县区旗州"

def short_place(word: str) -> str:
    """A place without its administrative suffix, so 沁水县 and 沁水 match: "阳城县" -> "阳城" (two characters stay)."""
    return word[:-1] if len(word) >= 3 and word[-1] in ADMIN_SUFFIXES else word

# Titles that stand before a person's name ("副局长王大勇"); longer ones first, so 副局长 wins over 局长.
ROLE_WORDS = (
    "副局长", "局长", "党组书记", "书记", "副主任", "主任", "副组长", "组长", "副县长", "县长", "副市长", "市长",
    "处长", "科长", "站长", "队长", "主席", "记者",
)

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
    from pypinyin import lazy_pinyin
    from pypinyin.constants import PINYIN_DICT

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


# What opens a byline: the paper or agency, then the reporter's role ("科学导报记者", "新华社特约通讯员").
BYLINE_ROLE = r"^(?:科学导报|本报|新华社)?(?:特约|实习)?(?:记者|通讯员)"


def byline_names(byline: str) -> list[str]:
    """The people a byline or signature names, as written: "科学导报记者 范琛 陈海瑞" -> ["范琛", "陈海瑞"]."""
    role = re.match(BYLINE_ROLE + r"\s*", to_simplified(byline))  # 記者 is 记者: the same length, folded
    return byline[role.end() if role else 0 :].split()
