"""Property tests (hypothesis) of the text layer: no string crashes normalization or number parsing, normalizing is
idempotent, and a figure written out is read back as the same value."""

from hypothesis import given, settings
from hypothesis import strategies as st

from assistant.answer.frame import analyze
from assistant.ingest.articles import parse_document
from assistant.ingest.normalize import normalize_blocks
from assistant.text.chars import fold_width, has_words
from assistant.text.figures import arabic_decimals, cn_to_number, figure_values, same_figure
from assistant.text.script import normalize_question, to_simplified

# Text as news archives hold it: CJK, Latin, digits, full-width forms, punctuation, controls and emoji mixed.
NEWSY = st.text(
    alphabet=st.one_of(
        st.characters(min_codepoint=0x4E00, max_codepoint=0x9FFF),
        st.sampled_from(list("0123456789.,%万亿元件家个年月日，。；：、？！“”（）《》\n\t 　０１２％")),
        st.characters(codec="utf-8"),
    ),
    max_size=200,
)
RUN = settings(max_examples=200, deadline=None, derandomize=True)  # the same examples every run: CI never flakes


@RUN
@given(NEWSY)
def test_normalizing_never_crashes_and_is_idempotent(text):
    once = normalize_question(text)
    assert normalize_question(once) == once
    assert fold_width(fold_width(text)) == fold_width(text)
    assert len(to_simplified(text)) == len(text)  # one character for one: offsets into the original hold


@RUN
@given(NEWSY)
def test_no_string_crashes_parsing_figures_documents_or_questions(text):
    figure_values(text)
    arabic_decimals(text)
    has_words(text)
    normalize_blocks(text)
    parse_document(text, "标题")
    analyze(text)


@RUN
@given(st.integers(min_value=0, max_value=10**12), st.sampled_from(["", "万", "亿"]), st.sampled_from(["元", "件", "%", "吨"]))
def test_a_figure_written_out_is_read_back_as_the_same_value(number, magnitude, unit):
    scale = {"": 1, "万": 10**4, "亿": 10**8}[magnitude]
    values = figure_values(f"共计{number}{magnitude}{unit}。")
    assert values and same_figure(values[0][0], number * scale) and values[0][1] == unit


@RUN
@given(st.integers(min_value=1, max_value=99_999_999))
def test_chinese_numerals_round_trip(number):
    digits = "零一二三四五六七八九"

    def chinese(n: int) -> str:
        if n >= 10**4:
            high, low = divmod(n, 10**4)
            return chinese(high) + "万" + (("零" if low < 1000 else "") + chinese(low) if low else "")
        out, zero = "", False
        for value, name in ((1000, "千"), (100, "百"), (10, "十"), (1, "")):
            d, n = divmod(n, value)
            if d:
                out += ("零" if zero and out else "") + digits[d] + name
                zero = False
            elif out:
                zero = True
        return out

    assert cn_to_number(chinese(number)) == number


@RUN
@given(NEWSY)
def test_bigram_codes_are_the_bigrams_article_search_reads(text):
    # Whole articles are indexed through integer codes: decoded, they must be exactly char_bigrams, or a question's
    # bigrams would miss what the article holds.
    from assistant.text.tokens import bigram_of_code, char_bigram_codes, char_bigrams

    assert [bigram_of_code(int(c)) for c in char_bigram_codes(text)] == char_bigrams(text)


@settings(max_examples=30, deadline=None, derandomize=True)
@given(st.lists(st.lists(st.sampled_from(["沁水", "县", "处罚", "金额", "2024", "万元", "阳城", ""]), max_size=12),
                min_size=1, max_size=20))
def test_bm25_built_with_numpy_scores_as_bm25s_own_build(rows):
    # The index is built from token codes with numpy (bm25s's build is a Python loop over every token); a question
    # must score every passage exactly as bm25s's own index does.
    import bm25s
    import numpy as np

    from assistant.store.lexical import BM25Index

    import tqdm

    tqdm.tqdm.monitor_interval = 0  # bm25s's hidden progress bars must not leave tqdm's thread behind (ingestion
    # forks its workers only from a process with one thread)
    rows = [[t for t in row if t] for row in rows]
    ours = BM25Index.build([(str(i), row) for i, row in enumerate(rows)], generation=1).retriever
    theirs = bm25s.BM25()
    theirs.index([row or [""] for row in rows], show_progress=False)
    for query in (["沁水", "处罚"], ["金额"], ["阳城", "2024", "万元"], ["没有"]):
        assert np.array_equal(ours.get_scores(query), theirs.get_scores(query))


@settings(max_examples=40, deadline=None, derandomize=True)
@given(st.dictionaries(st.text(max_size=8), st.integers(min_value=-2**40, max_value=2**40), max_size=60),
       st.lists(st.text(max_size=8), max_size=20))
def test_a_sorted_table_on_disk_answers_as_the_dict_it_was_written_from(tmp_path_factory, items, probes):
    # The BM25 vocabularies and the word frequencies are opened from disk by binary search rather than parsed into
    # a dict (a fifth of a cold question); every key, every missing key and odd strings must look up the same.
    from assistant.text.table import SortedTable

    path = tmp_path_factory.mktemp("table") / "t"
    SortedTable.write(path, items)
    table = SortedTable.open(path)
    assert dict(table.items()) == items and len(table) == len(items)
    for key in list(items) + probes:
        assert table.get(key) == items.get(key) and (key in table) == (key in items)


def test_a_bm25_index_saved_and_loaded_scores_as_built_and_an_older_save_still_loads(tmp_path):
    # Saved indexes keep their vocabulary as a SortedTable; an index saved before (bm25s's JSON vocabulary) must
    # keep answering the same after the upgrade.
    import json

    import numpy as np

    from assistant.store.lexical import VOCAB_FILE, BM25Index

    rows = [["沁水", "县", "处罚"], ["阳城", "2024", "万元"], [], ["沁水", "金额", "万元", "万元"]]
    built = BM25Index.build([(f"c{i}", row) for i, row in enumerate(rows)], generation=3)
    built.save(tmp_path / "bm25")
    loaded = BM25Index.load(tmp_path / "bm25")
    older = tmp_path / "older"
    built.retriever.save(str(older / "bm25s"))  # as saved before the table: the whole vocabulary in JSON
    (older / "ids.json").write_text(json.dumps({"generation": 3, "ids": built.ids}), encoding="utf-8")
    assert not (older / "bm25s" / VOCAB_FILE).exists()
    old = BM25Index.load(older)
    for query in (["沁水", "处罚"], ["万元"], ["没有", "阳城"]):
        for index in (loaded, old):
            assert np.array_equal(index.retriever.get_scores(query), built.retriever.get_scores(query))
            assert index.idf(query) == built.idf(query) and index.search(query, 2) == built.search(query, 2)
    assert loaded.generation == old.generation == 3
