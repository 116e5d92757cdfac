"""Prompt files (the .md beside this module, shipped inside the package), loaded at run time with every placeholder checked."""

from __future__ import annotations

import string
from functools import lru_cache
from pathlib import Path

from ...errors import PromptError

PROMPTS_DIR = Path(__file__).resolve().parent


@lru_cache(maxsize=16)
def load(name: str, directory: str | None = None) -> str:
    path = Path(directory or PROMPTS_DIR) / f"{name}.md"
    if not path.exists():
        raise PromptError(f"找不到提示词文件：{path}")
    return path.read_text(encoding="utf-8")


def placeholders(template: str) -> set[str]:
    return {field for _, field, _, _ in string.Formatter().parse(template) if field}


def render(name: str, directory: str | None = None, **values: str) -> str:
    """Fill a prompt; every placeholder must be given, and nothing else."""
    template = load(name, directory)
    wanted = placeholders(template)
    missing, extra = wanted - set(values), set(values) - wanted
    if missing or extra:
        raise PromptError(f"提示词 {name} 的占位符不匹配：缺少 {sorted(missing)}，多余 {sorted(extra)}")
    return template.format(**values)
