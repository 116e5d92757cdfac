"""`assistant eval`: metrics a user can trust, reports a person can read, floors CI enforces."""

import json

import pytest

from assistant.eval.evaluation import GoldError, answer_matches, char_em_f1, load_gold, run_eval

from .conftest import GOLD, ROOT, run_cli


@pytest.mark.parametrize(
    "predicted, gold",
    [
        ("394.179万元", "3,941,790元"),
        ("3941790元", "394.179万元"),
        ("１.４亿元", "1.4亿元"),
        ("5项", "五项"),
        ("处罚金额共计 394.179 万元", "394.179万元"),
        ("沁水縣", "沁水县"),
        ("85.7％", "85.7%"),
    ],
)
def test_answers_match_after_normalization(predicted, gold):
    assert answer_matches(predicted, gold)


@pytest.mark.parametrize("predicted, gold", [("394.179万元", "394.179元"), ("24件", "24家"), ("38微克", "30微克")])
def test_different_figures_do_not_match(predicted, gold):
    assert not answer_matches(predicted, gold)


def test_character_em_and_f1_follow_the_cmrc_convention():
    assert char_em_f1("光荣和ω-force", ["光荣和ω-force"]) == (1.0, 1.0)
    em, f1 = char_em_f1("光荣", ["光荣和ω-force"])
    assert em == 0.0 and 0.0 < f1 < 1.0


def test_a_malformed_gold_line_is_named_by_file_and_line(tmp_path):
    path = tmp_path / "gold.jsonl"
    path.write_text('{"id": "a", "question": "问？", "answers": ["x"]}\n\n{"id": "b", "question": "问？"\n', encoding="utf-8")
    with pytest.raises(GoldError, match=r"gold\.jsonl:3:"):
        load_gold(path)
    proc = run_cli("eval", str(path), "--index-dir", str(tmp_path / "idx"))
    assert proc.returncode == 2 and f"{path}:3:" in proc.stderr and "Traceback" not in proc.stderr


def test_seeds_eval_meets_the_floors_and_writes_results_and_reports(seeds_index, tmp_path):
    """This is the CI gate: the seeds eval must stay above evals/floors.json."""
    results, report = tmp_path / "r.jsonl", tmp_path / "report.md"
    proc = run_cli(
        "eval", str(GOLD), "--index-dir", str(seeds_index), "--results", str(results), "--report", str(report),
        "--floors", str(ROOT / "evals" / "floors.json"), "--json",
    )
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    overall = data["metrics"]["overall"]
    assert data["items"] == len(load_gold(GOLD)) and not data["partial"]
    for metric in ("accuracy", "em", "f1", "decline_precision", "decline_recall", "hit@1", "hit@5", "mrr",
                   "citation_support", "latency_p50_ms", "latency_p95_ms"):
        assert metric in overall
    assert set(data["metrics"]["by_type"]) >= {"figure", "name", "date", "decline"}
    rows = [json.loads(x) for x in results.read_text(encoding="utf-8").splitlines()]
    assert len(rows) == data["items"]
    assert {"answer", "answered", "citations", "backend", "latency_ms", "correct", "retrieval_rank"} <= set(rows[0])
    html = report.with_suffix(".html").read_text(encoding="utf-8")
    assert "<svg" in html and "各类型准确率" in html and "延迟分布" in html
    assert "总体指标" in report.read_text(encoding="utf-8")


def test_adversarial_eval_meets_its_floors(seeds_index):
    gold = ROOT / "evals" / "adversarial_gold.jsonl"
    proc = run_cli("eval", str(gold), "--index-dir", str(seeds_index), "--floors", str(ROOT / "evals" / "floors.json"))
    assert proc.returncode == 0, proc.stderr
    # Every question of the set has an answer: the precision of its declines is undefined, not 0.000
    assert "拒答精确率 –" in proc.stdout and "拒答召回率 –" in proc.stdout


def test_conversations_keep_place_and_year_and_meet_their_floors(seeds_index):
    """Follow-ups that swap the place or the year, ask a year the articles lack, or come after a decline."""
    gold = ROOT / "evals" / "conversations_gold.jsonl"
    proc = run_cli("eval", str(gold), "--index-dir", str(seeds_index), "--floors", str(ROOT / "evals" / "floors.json"))
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_a_real_news_archive_sample_meets_its_floors(tmp_path):
    """80 crud_news_dev questions over their 76 articles and 400 other news articles (scripts/make_crud_sample.py):
    the right article must come first, the answer must be cited."""
    index = tmp_path / "news"
    done = run_cli("ingest", str(ROOT / "evals" / "crud_news_sample_corpus.jsonl"), "--index-dir", str(index), timeout=300)
    assert done.returncode == 0, done.stderr
    gold = ROOT / "evals" / "crud_news_sample.jsonl"
    proc = run_cli("eval", str(gold), "--index-dir", str(index), "--floors", str(ROOT / "evals" / "floors.json"),
                   timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_floors_fail_the_run_when_a_metric_drops(seeds_index, tmp_path):
    floors = tmp_path / "floors.json"
    floors.write_text(json.dumps({"seeds_gold.jsonl": {"accuracy": 1.01}}), encoding="utf-8")
    proc = run_cli("eval", str(GOLD), "--index-dir", str(seeds_index), "--floors", str(floors))
    assert proc.returncode == 1 and "accuracy" in proc.stderr


def test_every_failure_is_listed_with_expected_got_and_passages(seeds_assistant, tmp_path):
    gold = tmp_path / "g.jsonl"
    gold.write_text(
        json.dumps({"id": "wrong", "question": "沁水县2024年处罚金额多少？", "answers": ["999万元"]}, ensure_ascii=False) + "\n",
        encoding="utf-8",
    )
    run = seeds_assistant.evaluate(gold, report=tmp_path / "r.md")
    text = (tmp_path / "r.md").read_text(encoding="utf-8")
    assert "wrong" in text and "999万元" in text and "394.179万元" in text and "《" in text
    assert run.summary["overall"]["accuracy"] == 0.0


def test_ctrl_c_leaves_a_usable_partial_run(seeds_assistant, tmp_path):
    class Interrupting:
        """The real assistant, interrupted as Ctrl-C would after three questions."""

        def __init__(self, inner):
            self.inner, self.calls = inner, 0

        def ask(self, *args, **kwargs):
            self.calls += 1
            if self.calls > 3:
                raise KeyboardInterrupt
            return self.inner.ask(*args, **kwargs)

        def retrieve(self, *args, **kwargs):
            return self.inner.retrieve(*args, **kwargs)

    results = tmp_path / "partial.jsonl"
    run = run_eval(Interrupting(seeds_assistant), GOLD, results)
    assert run.partial and len(run.rows) == 3 and run.total == len(load_gold(GOLD))
    assert len(results.read_text(encoding="utf-8").splitlines()) == 3
    assert run.summary["overall"]["n"] == 3


def test_baseline_is_reported_side_by_side(seeds_assistant, tmp_path):
    run = seeds_assistant.evaluate(GOLD, report=tmp_path / "r.md", baseline=True)
    base = run.baseline
    assert base["n"] > 0 and 0.0 <= base["hit@5"] <= 1.0
    assert base["mean_retrieved_chars"] > run.summary["overall"]["mean_retrieved_chars"]
    assert "llama-index 默认" in (tmp_path / "r.md").read_text(encoding="utf-8")
