# Two commands do all the set-up on a fresh machine (Python 3.11 + the package registries):
#   make run    install, build the index from seeds/ when it is missing, answer a sample question
#   make test   install (with test extras) and run the test suite
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
INDEX  ?= index
QUESTION ?= 沁水县2024年处罚金额多少？

CMRC   ?= ../shared/data/cmrc2018
.PHONY: install run test bench cmrc lock clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[test]"
	touch $(STAMP)

install: $(STAMP)

run: install
	test -f $(INDEX)/catalog.sqlite3 || $(BIN)/assistant ingest seeds --index-dir $(INDEX)
	$(BIN)/assistant ask "$(QUESTION)" --index-dir $(INDEX)

test: install
	$(BIN)/python -m pytest

bench: install
	$(BIN)/python scripts/bench.py

# External benchmark: CMRC 2018 dev (848 paragraphs, 3,219 questions) in its own index.
cmrc: install
	$(BIN)/assistant ingest $(CMRC)/cmrc_dev_corpus.jsonl --index-dir index/cmrc
	$(BIN)/assistant eval $(CMRC)/cmrc_dev_open.jsonl --index-dir index/cmrc --baseline \
		--results evals/reports/cmrc_results.jsonl --report evals/reports/cmrc.md

# Refresh the pinned versions after changing dependencies in pyproject.toml.
lock: install
	$(BIN)/python -m pip freeze --exclude-editable | grep -v '^news-qa-assistant' > constraints.txt

clean:
	rm -rf $(VENV) $(INDEX)/catalog.sqlite3 $(INDEX)/chroma $(INDEX)/bm25
