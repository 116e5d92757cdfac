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


# Formats people drop in by mistake, named so the message says what the file is.
_MAGIC = {
    b"\x89PNG": "PNG 图片", b"\xff\xd8\xff": "JPEG 图片", b"GIF8": "GIF 图片", b"%PDF": "PDF 文件（请先转换为文本）",
    b"PK\x03\x04": "压缩包或 Office 文档（请先转换为文本）", b"\x1f\x8b": "gzip 压缩包", b"\xd0\xcf\x11\xe0": "Office 文档（请先转换为文本）",
}
# Text has almost no control characters besides tab, newline and carriage return; a file whose first 8 KB decode to
# more than this share of them is binary, whatever it happened to decode as.
MAX_CONTROL_SHARE = 0.01
_TEXT_CONTROLS = "\t\n\r\f\v"


def _binary_header(data: bytes) -> str | None:
    """Why the bytes are not text, read from the first 8 KB (a known format's header, a NUL byte), or None."""
    for magic, what in _MAGIC.items():
        if data.startswith(magic):
            return f"是{what}（二进制文件），不是文本"
    if b"\x00" in data[:8192]:
        return "是二进制文件（含 NUL 字节），不是文本"
    return None


def _decoded(text: str, encoding: str, bad: list[int]) -> tuple[str | None, str, list[int]]:
    """The decoded text, unless its first 8 KB are mostly control characters (binary that happened to decode)."""
    head = text[:8192]
    controls = sum(1 for ch in head if ord(ch) < 32 and ch not in _TEXT_CONTROLS or 0x7F <= ord(ch) < 0xA0)
    if head and controls / len(head) > MAX_CONTROL_SHARE:
        return None, "含大量控制字符，是二进制文件，不是文本", []
    return text, encoding, bad


def decode_bytes(data: bytes) -> tuple[str | None, str, list[int]]:
    """Decode UTF-8 (with or without BOM) or GB18030/GBK: (text, encoding, lines with invalid bytes), or
    (None, reason, []) for a binary file. A file that decodes in neither as a whole is decoded line by line in
    the encoding most of its lines are in; a line's invalid bytes become U+FFFD and its number is returned."""
    reason = _binary_header(data)
    if reason:
        return None, reason, []
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return _decoded(data.decode(encoding), encoding, [])
        except UnicodeDecodeError:
            continue
    lines = data.split(b"\n")

    def decodes(raw: bytes, encoding: str) -> bool:
        try:
            raw.decode(encoding)
            return True
        except UnicodeDecodeError:
            return False

    encoding = max(("utf-8", "gb18030"), key=lambda e: sum(decodes(raw, e) for raw in lines))
    bad = [n for n, raw in enumerate(lines, start=1) if not decodes(raw, encoding)]
    return _decoded("\n".join(raw.decode(encoding, errors="replace") for raw in lines).removeprefix("\ufeff"),
                    encoding, bad)


def discover(paths: list[Path]) -> tuple[list[Path], list[Skipped]]:
    """Expand folders into supported files (sorted); unsupported files are reported, missing paths raise."""
    files: list[Path] = []
    skipped: list[Skipped] = []
    for path in paths:
        if not path.exists():
            raise InputError(f"路径不存在：{path}")
        if path.is_dir():
            for child in sorted(path.rglob("*")):
                if any(part.startswith(".") for part in child.relative_to(path).parts):
                    continue
                if child.suffix.lower() in SUPPORTED_SUFFIXES and not child.is_dir():
                    (files.append(child) if child.is_file() else skipped.append(_not_regular(child)))
        elif not path.is_file():
            skipped.append(_not_regular(path))  # a named pipe would block the read forever
        elif path.suffix.lower() in SUPPORTED_SUFFIXES:
            files.append(path)
        else:
            skipped.append(Skipped(str(path), f"不支持的文件类型“{path.suffix}”（只支持 .txt、.md、.jsonl）"))
    return files, skipped


def _not_regular(path: Path) -> Skipped:
    return Skipped(str(path), "不是普通文件（命名管道、设备或套接字），不读取")


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
    text, how, bad_lines = decode_bytes(data)
    if text is None:
        yield Skipped(str(path), how)
        return
    if path.suffix.lower() != ".jsonl":
        if not text.strip():
            yield Skipped(str(path), "文件是空的")
            return
        for lineno in bad_lines:  # the rest of the line and the file are kept
            yield Skipped(str(path), f"这一行含有不是 {how} 的字节，已替换为 �", lineno)
        yield SourceDocument(doc_id=path.name, source=str(path), text=text)
        return
    bad = set(bad_lines)
    for lineno, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        if lineno in bad:
            yield Skipped(str(path), f"这一行含有不是 {how} 的字节", lineno)
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
