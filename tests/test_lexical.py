"""The BM25 layer: a small change laid over a saved index ranks as if it had been built in, and a one-file ingest
into a large archive reads that file, not the archive."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from assistant import Assistant
from assistant.store.lexical import BM25Index, LayeredBM25, Sources

WORDS = ["沁水", "处罚", "金额", "万元", "阳城", "浓度", "微克", "立方米", "检查", "企业", "河流", "水位"]
rows_strategy = st.lists(st.lists(st.sampled_from(WORDS), min_size=1, max_size=12), min_size=3, max_size=25)


def _base(rows: list[list[str]]) -> BM25Index:
    return BM25Index.build(((f"r{i}", toks) for i, toks in enumerate(rows)), 1,
                           Sources({f"d{i}": "h" for i in range(len(rows))}, [f"d{i}" for i in range(len(rows))]))


@settings(max_examples=60, deadline=None)
@given(rows_strategy, st.data())
def test_a_row_laid_again_over_its_base_scores_as_it_did(rows, data):
    # Replacing a document by the same text must not move any score: the delta is scored with the base's statistics.
    base = _base(rows)
    k = data.draw(st.integers(0, len(rows) - 1))
    delta = BM25Index.build([(f"r{k}", rows[k])], 2, base=base)
    layered = LayeredBM25(base, delta, [k], 2)
    query = data.draw(st.lists(st.sampled_from(WORDS), min_size=1, max_size=5))
    ids = [f"r{i}" for i in range(len(rows))]
    assert layered.scores_for(query, ids) == base.scores_for(query, ids)
    assert dict(layered.search(query, len(rows))) == dict(base.search(query, len(rows)))


@settings(max_examples=60, deadline=None)
@given(rows_strategy, st.data())
def test_a_masked_row_is_never_found_and_a_new_one_is(rows, data):
    base = _base(rows)
    k = data.draw(st.integers(0, len(rows) - 1))
    new = ["新词", *rows[k]]
    layered = LayeredBM25(base, BM25Index.build([("new", new)], 2, base=base), [k], 2)
    query = data.draw(st.lists(st.sampled_from(WORDS), min_size=1, max_size=5))
    found = [i for i, _ in layered.search(query, len(rows) + 1)]
    assert f"r{k}" not in found and f"r{k}" not in layered.rank(query, len(rows) + 1, [f"r{k}"])
    assert [i for i, _ in layered.search(["新词"], 3)] == ["new"]  # a word only the new row has is found at once
    # a row with the same words as a base row ties with it
    twin = LayeredBM25(base, BM25Index.build([("twin", rows[0])], 2, base=base), [], 2)
    scores = twin.scores_for(query, ["r0", "twin"])
    assert np.isclose(scores.get("r0", 0.0), scores.get("twin", 0.0))


def _saved(index_dir: Path) -> dict[str, str]:
    """Which saved version each BM25 link points at."""
    return {name: os.readlink(index_dir / name) for name in ("bm25", "bm25_articles")}


def test_a_one_file_ingest_into_an_archive_reads_that_file_not_the_archive(tmp_path):
    # 476 news articles, then one small file added, changed and deleted: each is answered (or no longer) at once,
    # and the archive's BM25 indexes saved on disk are not rebuilt for it.
    corpus = Path(__file__).resolve().parents[1] / "evals" / "crud_news_sample_corpus.jsonl"
    idx = tmp_path / "idx"
    with Assistant(index_dir=idx) as a:
        a.ingest(corpus)
        before = _saved(idx)
        note = tmp_path / "new" / "芮城简报.txt"
        note.parent.mkdir()
        note.write_text("芮城县生态环境简报\n2024年芮城县新建污水管网12.5公里，完成投资3200万元。\n", encoding="utf-8")
        a.ingest(note)
        assert a.ask("2024年芮城县新建污水管网多少公里？").answer == "12.5公里"
        note.write_text("芮城县生态环境简报\n2024年芮城县新建污水管网18.6公里，完成投资3200万元。\n", encoding="utf-8")
        a.ingest(note)
        assert _saved(idx) == before
    with Assistant(index_dir=idx) as fresh:  # another process sees the same, laid over the same saved indexes
        answer = fresh.ask("2024年芮城县新建污水管网多少公里？")
        assert answer.answer == "18.6公里" and "12.5" not in "".join(c.text for c in answer.citations)
        fresh.delete("芮城简报.txt")
        assert not fresh.ask("2024年芮城县新建污水管网多少公里？").answered
        assert _saved(idx) == before


def test_a_change_past_the_delta_share_is_answered_at_once_and_merged_in_the_background(tmp_path, seeds_copy):
    # On the two seed pages a new article is past the share of the article index: it is answered at once from the
    # layer, while a detached process rebuilds and saves the indexes (store/merge.py); the merged index answers the
    # same, scores as a rebuild from scratch, and leaves the write lock free.
    import time

    from assistant.settings import Settings
    from assistant.store.catalog import article_bm25, passage_bm25
    from assistant.store.index import Index
    from assistant.store.lexical import BM25Index
    from assistant.text.tokens import char_bigrams, tokenize

    idx = tmp_path / "idx"
    with Assistant(index_dir=idx) as a:
        a.ingest(seeds_copy)
        before = _saved(idx)
        (seeds_copy / "new.txt").write_text(
            "芮城县生态环境简报\n" + "2024年芮城县新建污水管网12.5公里，完成投资3200万元。\n" * 3, encoding="utf-8")
        a.ingest(seeds_copy)
        assert isinstance(a._open().lexical("articles"), LayeredBM25)  # the ingest did not wait for a rebuild
        assert a.ask("2024年芮城县新建污水管网多少公里？").answer == "12.5公里"
        assert a.ask("沁水县2024年处罚金额多少？").answer == "394.179万元"
    deadline = time.monotonic() + 120
    while _saved(idx) == before and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _saved(idx) != before, "the merge never saved the indexes"
    index = Index.open(Settings(index_dir=idx))
    try:
        with index.writing():  # the merge holds no lock once it has saved
            pass
        question = "2024年芮城县新建污水管网多少公里"
        for folder, build, terms in (("bm25", passage_bm25, tokenize(question)),
                                     ("bm25_articles", article_bm25, char_bigrams(question))):
            saved = BM25Index.load(idx / folder)
            assert saved is not None and saved.generation == index.generation
            fresh = build(index.db, index.generation)
            assert saved.ids == fresh.ids and saved.search(terms, 5) == fresh.search(terms, 5)
    finally:
        index.close()
    with Assistant(index_dir=idx) as merged:
        assert merged.ask("2024年芮城县新建污水管网多少公里？").answer == "12.5公里"
