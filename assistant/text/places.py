"""China's administrative divisions from jionlp's bundled table: the cities and counties inside a province or city, so
that a filter for 江苏 finds what is said about 南京市 or 江宁区."""

from __future__ import annotations

import contextlib
import io
from functools import lru_cache


@lru_cache(maxsize=1)
def _divisions() -> dict[str, tuple[str, ...]]:
    """Each province's and city's names (full and short: 江苏省, 江苏) -> the names of the places inside it. Cities
    are named full and short (南京市, 南京); counties by their full name only (江宁区), as their short names are
    often common words or shared by counties of other cities.

    Loaded once, when first asked (about 1 s; jionlp's table is 120 MB while it is read)."""
    with contextlib.redirect_stdout(io.StringIO()):  # jionlp prints a banner when imported
        import jionlp

    def names(node: dict) -> list[str]:
        alias = node.get("_alias") or []
        alias = [alias] if isinstance(alias, str) else list(alias)
        return [node["_full_name"], *(a for a in alias if len(a) >= 2)]

    def children(node: dict) -> list[dict]:
        return [v for k, v in node.items() if not k.startswith("_") and isinstance(v, dict)]

    out: dict[str, list[str]] = {}
    for province in jionlp.china_location_loader().values():
        inside: list[str] = []
        for city in children(province):
            counties = [c["_full_name"] for c in children(city)]
            if city["_full_name"] != province["_full_name"]:  # 北京市 is its own only city
                inside += names(city)
                for name in names(city):
                    out.setdefault(name, []).extend(counties)
            inside += counties
        for name in names(province):
            out.setdefault(name, []).extend(inside)
    return {name: tuple(dict.fromkeys(places)) for name, places in out.items()}


def places_within(name: str) -> tuple[str, ...]:
    """The cities and counties inside a province or city named in full or short ("江苏", "南京市"); () for any
    other name (a county, a company, a word)."""
    name = name.strip()
    if not 2 <= len(name) <= 8:
        return ()
    return _divisions().get(name, ())
