"""One table of errors: what errors.py documents is what the CLI exits with and what the HTTP API answers."""

import re

import pytest

from assistant import errors
from assistant.app.http_api import _as_api_error


def _documented() -> dict[str, tuple[int, int, str]]:
    rows = {}
    for line in errors.__doc__.splitlines():
        m = re.match(r"\| ([A-Za-z, ]+) \| (\d) \| (\d{3}) (\w+) \|", line)
        if m:
            for name in m.group(1).split(", "):
                rows[name.strip()] = (int(m.group(2)), int(m.group(3)), m.group(4))
    return rows


ERRORS = [c for c in vars(errors).values() if isinstance(c, type) and issubclass(c, errors.AssistantError)]


@pytest.mark.parametrize("cls", ERRORS, ids=lambda c: c.__name__)
def test_every_error_is_reported_as_the_table_says(cls):
    documented = _documented()
    exit_code, status, code = documented.get(cls.__name__, (1, 502, "service_failed"))
    exc = cls("/tmp/idx") if cls is errors.IndexMissing else cls("某个问题。")
    assert (exc.exit_code, exc.http_status, exc.code) == (exit_code, status, code)
    answered = _as_api_error(exc)
    assert (answered.status, answered.code) == (status, code)
    assert answered.message and "Traceback" not in answered.message


def test_the_table_names_only_errors_that_exist():
    assert set(_documented()) <= {c.__name__ for c in ERRORS} and len(_documented()) >= 6


def test_an_empty_index_tells_each_interface_its_own_next_step():
    exc = errors.IndexMissing("/srv/idx")
    assert "assistant ingest" in exc.message_for("cli")
    assert "POST /v1/ingest" in exc.message_for("api") and "/srv/idx" not in exc.message_for("api")
    assert "文档" in exc.message_for("ui") and "/srv/idx" not in exc.message_for("ui")
