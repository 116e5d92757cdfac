# Two commands do all the set-up on a fresh machine (Python 3.11 + the package registries):
#   make run    install, build the index from seeds/ when it is missing, serve the web UI on 127.0.0.1:7860
#   make test   install (with test extras, Debian's chromium and a CJK font) and run the test suite
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
INDEX  ?= index
QUESTION ?= 沁水县2024年处罚金额多少？

CMRC   ?= ../shared/data/cmrc2018
SHARED ?= ../shared/data
# The datasets of ../shared/data are not in the repository: a target that reads one says where it looked, and stops.
need = @test -e $(1) || { echo "缺少数据：$(1) 不存在。这些评测数据不在仓库里：请把 shared/data 放在项目旁边（../shared/data），或用 $(2)=路径 指定。" >&2; exit 2; }
.PHONY: install run ask system-deps test test-fast bench bench-scale chaos fuzz load cmrc fit-reader reader-eval facts-news docs lock clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[test]"
	touch $(STAMP)

# The package's own bytecode, written ahead (where PYTHONDONTWRITEBYTECODE is set, every start compiled it anew).
install: $(STAMP)
	$(BIN)/python -m compileall -q assistant

HOST   ?= 127.0.0.1
PORT   ?= 7860

run: install
	test -f $(INDEX)/catalog.sqlite3 || $(BIN)/assistant ingest seeds --index-dir $(INDEX)
	$(BIN)/assistant serve --host $(HOST) --port $(PORT) --index-dir $(INDEX)

# Answer one question from the command line (no browser needed).
ask: install
	test -f $(INDEX)/catalog.sqlite3 || $(BIN)/assistant ingest seeds --index-dir $(INDEX)
	$(BIN)/assistant ask "$(QUESTION)" --index-dir $(INDEX)

system-deps:
	bash scripts/system-deps.sh

test: install system-deps
	$(BIN)/python -m pytest

# The unit and rule tests alone, in under a minute (tests/conftest.py says which tests are slow); `make test` and CI
# run everything.
test-fast: install
	$(BIN)/python -m pytest -m "not slow"

bench: install
	$(BIN)/python scripts/bench.py

# Costs at scale: synthetic corpora of 1k, 10k and 100k passages plus crud_news_dev (evals/reports/bench_scale.*).
bench-scale: install
	$(BIN)/python scripts/bench_scale.py

# Fault injection: kill -9 ingestion at many moments, writers side by side, readers under load, a disk that fills
# under a serving process (a tmpfs: needs root) and a Chroma server killed mid-publish (evals/reports/chaos.md).
chaos: install
	$(BIN)/python scripts/chaos.py

# Schema fuzzing of the HTTP API: schemathesis, valid and invalid requests from its OpenAPI schema (evals/reports/fuzz_api.md).
fuzz: install
	$(BIN)/python scripts/fuzz_api.py

# A load test with locust: 200 users asking the seeds' questions for a minute (evals/reports/load_test.md).
load: install
	$(BIN)/python scripts/load_test.py

# External benchmark: CMRC 2018 dev (848 paragraphs, 3,219 questions) in its own index.
cmrc: install
	$(call need,$(CMRC)/cmrc_dev_corpus.jsonl,CMRC)
	$(BIN)/assistant ingest $(CMRC)/cmrc_dev_corpus.jsonl --index-dir index/cmrc
	$(BIN)/assistant eval $(CMRC)/cmrc_dev_open.jsonl --index-dir index/cmrc --baseline \
		--results evals/reports/cmrc_results.jsonl --report evals/reports/cmrc.md

# The facts table against ../shared/data/news_facts_dev's 266 hand-checked figures of 30 news articles (its score.py
# judges; the 15 commonest kinds of error go to stderr). The index is built under index/news_facts_dev.
facts-news: install
	$(call need,$(SHARED)/news_facts_dev/docs.jsonl,SHARED)
	rm -rf index/news_facts_dev
	$(BIN)/assistant ingest $(SHARED)/news_facts_dev/docs.jsonl --index-dir index/news_facts_dev
	$(BIN)/python $(SHARED)/news_facts_dev/score.py $(SHARED)/news_facts_dev/gold.jsonl \
		$(SHARED)/news_facts_dev/docs.jsonl index/news_facts_dev

# Refit the learned reader (ASSISTANT_READER=learned) on ../shared/data/reading_train: writes
# assistant/answer/reader_model.json and evals/reports/fit_reader.md (about 5 minutes on 2 cores, after a first build
# of the indexes under index/reading_train). Installs LightGBM (the `fit` extra), which answering never needs.
fit-reader: install
	$(call need,$(SHARED)/reading_train,SHARED)
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[fit]"
	$(BIN)/python scripts/fit_reader.py

# Correct, wrong and declined (short-gold questions) on crud_news_dev and a 600-question CMRC dev sample, per reader.
CRUD   ?= ../shared/data/crud_news_dev
reader-eval: install
	$(call need,$(CRUD)/corpus.jsonl,CRUD)
	$(call need,$(CMRC)/cmrc_dev_corpus.jsonl,CMRC)
	test -f index/crud/catalog.sqlite3 || $(BIN)/assistant ingest $(CRUD)/corpus.jsonl --index-dir index/crud
	test -f index/cmrc/catalog.sqlite3 || $(BIN)/assistant ingest $(CMRC)/cmrc_dev_corpus.jsonl --index-dir index/cmrc
	for r in rules learned; do ASSISTANT_READER=$$r $(BIN)/python scripts/reader_eval.py \
		crud=index/crud:$(CRUD)/questions.jsonl cmrc=index/cmrc:$(CMRC)/cmrc_dev_open.jsonl:600 \
		--out evals/reports/reader_$$r.json; done

# docs/settings.md from the settings' own descriptions (a test fails when they disagree).
docs: install
	$(BIN)/python -c "from assistant.settings import settings_markdown; open('docs/settings.md', 'w', encoding='utf-8').write(settings_markdown())"

# Refresh the pinned versions after changing dependencies in pyproject.toml.
lock: install
	$(BIN)/python -m pip freeze --exclude-editable | grep -v '^news-qa-assistant' > constraints.txt

clean:
	rm -rf $(VENV) $(INDEX)/catalog.sqlite3 $(INDEX)/chroma $(INDEX)/bm25
