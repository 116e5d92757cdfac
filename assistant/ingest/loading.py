"""Files to decoded source documents: .txt/.md/.jsonl discovery, UTF-8/GB18030 decoding, skip reasons."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from ..errors import InputError

SUPPORTED_SUFFIXES = (".txt", ".md", ".jsonl")
ID_FIELDS = ("id", "doc_id", "context_id")  # the first one present names a .jsonl document


@dataclass(frozen=True)
class SourceDocument:
    """One document as read from disk, before normalization."""

    doc_id: str  # the file name, or the line's "id" for .jsonl
    source: str  # the path it came from
    text: str
    title: str | None = None
    metadata: dict = field(default_factory=dict)
    line: int | None = None  # 1-based line in a .jsonl file

    @property
    def content_hash(self) -> str:
        payload = json.dumps([self.title, self.text, self.metadata], ensure_ascii=False, sort_keys=True)
        return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:32]


@dataclass(frozen=True)
class Skipped:
    """A file or a line that was not ingested, with the reason in one sentence."""

    source: str
    reason: str
    line: int | None = None

    def __str__(self) -> str:
        where = f"{self.source}:{self.line}" if self.line else self.source
        return f"{where}: {self.reason}"


def decode_bytes(data: bytes) -> tuple[str | None, str]:
    """Decode UTF-8 (with or without BOM) or GB18030/GBK; returns (text, encoding) or (None, reason)."""
    if b"\x00" in data[:8192]:
        return None, "是二进制文件（含 NUL 字节），不是文本"
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(encoding), encoding
        except UnicodeDecodeError:
            continue
    return None, "不是有效的 UTF-8 或 GB18030/GBK 文本"


def discover(paths: list[Path]) -> tuple[list[Path], list[Skipped]]:
    """Expand folders into supported files (sorted); unsupported files are reported, missing paths raise."""
    files: list[Path] = []
    skipped: list[Skipped] = []
    for path in paths:
        if not path.exists():
            raise InputError(f"路径不存在：{path}")
        if path.is_dir():
            for child in sorted(p for p in path.rglob("*") if p.is_file()):
                if any(part.startswith(".") for part in child.relative_to(path).parts):
                    continue
                if child.suffix.lower() in SUPPORTED_SUFFIXES:
                    files.append(child)
        elif path.suffix.lower() in SUPPORTED_SUFFIXES:
            files.append(path)
        else:
            skipped.append(Skipped(str(path), f"不支持的文件类型“{path.suffix}”（只支持 .txt、.md、.jsonl）"))
    return files, skipped


def _scalar(value):
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return json.dumps(value, ensure_ascii=False)


def read_file(path: Path, max_bytes: int | None = None) -> Iterator[SourceDocument | Skipped]:
    """Yield the documents in one file, and a Skipped for the file or for each unusable .jsonl line."""
    try:
        size = path.stat().st_size
        if max_bytes is not None and size > max_bytes:
            yield Skipped(str(path), f"文件大小 {size / 1e6:.1f} MB，超过 {max_bytes / 1e6:.0f} MB 的上限")
            return
        data = path.read_bytes()
    except OSError as exc:
        yield Skipped(str(path), f"无法读取（{exc.strerror or exc}）")
        return
    text, how = decode_bytes(data)
    if text is None:
        yield Skipped(str(path), how)
        return
    if path.suffix.lower() != ".jsonl":
        if not text.strip():
            yield Skipped(str(path), "文件是空的")
            return
        yield SourceDocument(doc_id=path.name, source=str(path), text=text)
        return
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            yield Skipped(str(path), f"不是有效的 JSON（{exc.msg}）", lineno)
            continue
        if not isinstance(obj, dict):
            yield Skipped(str(path), "这一行不是 JSON 对象", lineno)
            continue
        doc_text = obj.get("text")
        if not isinstance(doc_text, str) or not doc_text.strip():
            yield Skipped(str(path), '缺少 "text" 字段或其为空', lineno)
            continue
        doc_id = next((obj[k] for k in ID_FIELDS if obj.get(k) not in (None, "")), None)
        if doc_id is None:
            yield Skipped(str(path), '缺少 "id" 字段', lineno)
            continue
        title = obj.get("title")
        metadata = {k: _scalar(v) for k, v in obj.items() if k not in ("title", "text") and k not in ID_FIELDS}
        yield SourceDocument(
            doc_id=str(doc_id),
            source=str(path),
            text=doc_text,
            title=str(title) if title else None,
            metadata=metadata,
            line=lineno,
        )
