"""What a user who pip-installs the package (not an editable checkout) gets: the prompt files and the command."""

import subprocess
import sys
import zipfile

from .conftest import ROOT


def test_the_wheel_ships_the_prompt_files_and_the_command(tmp_path):
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation", "--wheel-dir",
         str(tmp_path), str(ROOT)],
        check=True, capture_output=True, timeout=300,
    )
    (wheel,) = tmp_path.glob("news_qa_assistant-*.whl")
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        entry_points = next(zf.read(n).decode() for n in names if n.endswith("entry_points.txt"))
    for prompt in ("qa.md", "condense.md", "extract_facts.md"):
        assert f"assistant/llm/prompts/{prompt}" in names
    assert "assistant = assistant.app.cli:main" in entry_points


def test_the_settings_page_is_made_from_the_settings_themselves():
    # docs/settings.md cannot drift from assistant/settings.py: every field has a description, and the page is
    # what `make docs` writes from them.
    from assistant.settings import Settings, settings_markdown

    assert not [name for name, field in Settings.model_fields.items() if not field.description]
    assert (ROOT / "docs" / "settings.md").read_text(encoding="utf-8") == settings_markdown(), "run make docs"


def test_the_readme_is_a_front_page_whose_links_resolve():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(readme.splitlines()) <= 150 and "make run" in readme and "make test" in readme
    import re

    for target in re.findall(r"\]\(([^)#]+)\)", readme):
        if not target.startswith("http"):
            assert (ROOT / target).exists(), target
