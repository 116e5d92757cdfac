"""Scripts: traditional to simplified characters, and a question normalized the way passages are read."""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from pathlib import Path

from .chars import fold_width, tidy_spacing
from .figures import cn_to_number


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
