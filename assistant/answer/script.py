"""Either script in, the document's own script out: the reader reads passages folded to simplified characters,
and what it quotes is cut back out of the passages as written (traditional stays traditional)."""

from __future__ import annotations

from dataclasses import replace

from ..store.records import ArticleText, Passage
from ..text.figures import figure_matches
from ..text.script import to_simplified


def folded_passage(p: Passage) -> Passage:
    """The passage in simplified characters; one character for one, so its offsets still hold."""
    return replace(p, title=to_simplified(p.title), subtitle=to_simplified(p.subtitle), text=to_simplified(p.text))


def folded_article(a: ArticleText) -> ArticleText:
    return replace(a, title=to_simplified(a.title), subtitle=to_simplified(a.subtitle), text=to_simplified(a.text),
                   byline=to_simplified(a.byline) if a.byline else a.byline)


def _original(quote: str, passages: list[Passage]) -> str | None:
    """`quote` (folded, perhaps without the layout spaces) as one of the passages writes it, or None."""
    target = "".join(quote.split())
    if not target:
        return None
    for p in passages:
        kept = [i for i, ch in enumerate(p.text) if not ch.isspace()]
        folded = to_simplified("".join(p.text[i] for i in kept))
        at = folded.find(target)
        if at >= 0:
            return "".join(p.text[i] for i in kept[at : at + len(target)])
    return None


def restore_script(text: str, passages: list[Passage]) -> str:
    """A quote from the folded passages in the passages' own script. An answer the reader composed ("晋中市（30微克）
    比阳城县低") is not in any passage whole: each figure in it is restored instead (394.179萬元 stays 萬元)."""
    if not text or text == to_simplified(text) and all(p.text == to_simplified(p.text) for p in passages):
        return text  # nothing to restore: everything is simplified already
    whole = _original(text, passages)
    if whole is not None:
        return whole
    out, last = [], 0
    for m in figure_matches(text):
        found = _original(m.group(0), passages)
        if found is not None:
            out += [text[last : m.start()], found]
            last = m.end()
    return "".join(out) + text[last:]
