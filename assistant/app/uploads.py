"""Uploaded files, from the web UI and the HTTP API alike: checked by type and size, saved under the index's uploads/
folder, ingested one upload at a time, and reported in Chinese."""

from __future__ import annotations

import re
import shutil
import threading
from dataclasses import replace
from pathlib import Path
from typing import BinaryIO, Callable, NamedTuple

from ..answer.turn import public_source
from ..ingest.loading import SUPPORTED_SUFFIXES
from ..ingest.pipeline import IngestReport
from ..errors import DiskFull
from ..store import space
from ..text.chars import is_text

COPY_CHUNK = 1 << 20  # bytes read at a time while saving an upload
# An upload's name, in UTF-8 bytes: a file system takes 255, and the partial copy adds its own suffix.
MAX_NAME_BYTES = 200
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def human(n: int) -> str:
    return f"{n / 1e6:g} MB" if n >= 1e6 else f"{n / 1e3:g} KB"


class Refusal(NamedTuple):
    """Why an upload is refused (one sentence), and the HTTP status the API answers it with."""

    message: str
    status: int


def too_large(name: str, max_bytes: int) -> Refusal:
    return Refusal(f"已跳过 {name}：超过 {human(max_bytes)} 的上传上限。", 413)


def refusal(name: str, size: int, max_bytes: int) -> Refusal | None:
    """Why an upload is refused, or None when it may be ingested."""
    if _CONTROL.search(name):
        shown = _CONTROL.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), name)
        return Refusal(f"已跳过 {shown}：文件名中有控制字符。", 400)
    if len(name.encode("utf-8", "surrogatepass")) > MAX_NAME_BYTES:
        return Refusal(f"已跳过 {name[:40]}…：文件名过长（上限 {MAX_NAME_BYTES} 字节）。", 400)
    if not is_text(name):
        return Refusal("已跳过一个文件：文件名中有无法识别的字符。", 400)
    if Path(name).suffix.lower() not in SUPPORTED_SUFFIXES:
        return Refusal(f"已跳过 {name}：只支持 {'、'.join(sorted(SUPPORTED_SUFFIXES))} 文件。", 415)
    if size > max_bytes:
        return too_large(name, max_bytes)
    return None


def save_stream(stream: BinaryIO, folder: Path, name: str, max_bytes: int) -> Path | None:
    """Copy an upload's bytes to folder/name; None (and nothing left behind) when it exceeds max_bytes."""
    folder.mkdir(parents=True, exist_ok=True)
    dest = folder / Path(name).name
    partial = dest.with_name(f".{dest.name}.{threading.get_ident()}.part")
    written = 0
    with partial.open("wb") as out:
        while chunk := stream.read(COPY_CHUNK):
            written += len(chunk)
            if written > max_bytes:
                break
            out.write(chunk)
    if written > max_bytes:
        partial.unlink(missing_ok=True)
        return None
    partial.replace(dest)
    return dest


def save_file(src: Path, folder: Path, name: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    dest = folder / Path(name).name
    shutil.copyfile(src, dest)
    return dest


class UploadService:
    """The one way a served index changes at a user's request, for the web UI and the HTTP API alike. An upload has
    its name, type and size checked, a copy kept under the index's uploads/ folder, and what was kept ingested; a
    deletion removes a document. Both run under the server's write lock (one at a time), and an upload starts the
    background vectors."""

    def __init__(self, assistant, write_lock: threading.Lock, kick_embedder: Callable[[], None]):
        self.assistant, self.write_lock, self.kick_embedder = assistant, write_lock, kick_embedder
        self.max_bytes = int(assistant.settings.ui_max_upload_mb * 1e6)
        self.folder = assistant.uploads_dir
        self.reserve_mb = assistant.settings.min_free_mb

    def keep_stream(self, name: str, declared_size: int, stream: BinaryIO) -> Path | Refusal:
        """An upload read from a stream (HTTP), kept under uploads/, or why it is refused."""
        name = Path(name or "upload.txt").name
        why = refusal(name, declared_size, self.max_bytes) or self._no_room(declared_size)
        if why:
            return why
        try:
            path = save_stream(stream, self.folder, name, self.max_bytes)
        except OSError as exc:
            if not space.is_full(exc):
                raise
            return Refusal(str(space.full(self.folder.parent, self.reserve_mb)), 507)
        return path if path is not None else too_large(name, self.max_bytes)  # it sent more than it declared

    def _no_room(self, size: int) -> Refusal | None:
        """A refusal when keeping `size` more bytes would eat into the disk's reserve (ASSISTANT_MIN_FREE_MB)."""
        self.folder.parent.mkdir(parents=True, exist_ok=True)
        try:
            space.check(self.folder.parent, self.reserve_mb, size)
        except DiskFull as exc:
            return Refusal(str(exc), 507)
        return None

    def keep_file(self, src: Path, name: str) -> Path | Refusal:
        """An upload the web server already wrote to a temporary file, kept under uploads/, or why it is refused."""
        name = Path(name).name
        size = src.stat().st_size
        return refusal(name, size, self.max_bytes) or self._no_room(size) or save_file(src, self.folder, name)

    def ingest(self, kept: list[Path], progress: Callable[[int, int, str], None] | None = None) -> IngestReport:
        """Ingest the kept files (raising as Assistant.ingest does); their vectors follow in the background."""
        with self.write_lock:
            report = self.assistant.ingest(*kept, progress=progress)
        if report.vectors_pending:
            self.kick_embedder()
        return report

    def delete(self, doc_id: str) -> bool:
        """Delete a document (and its upload); False when there is none of that id."""
        with self.write_lock:
            return self.assistant.delete(doc_id)


def report_lines(report: IngestReport) -> list[str]:
    """What an ingest did, a sentence a line: counts first, then replaced, renamed and skipped files."""
    lines = [f"新增 {len(report.added)} 篇，更新 {len(report.replaced)} 篇，未变 {len(report.unchanged)} 篇；"
             f"写入 {report.chunks_written} 个段落。"]
    if report.replaced:
        lines.append("已替换同名文档（同一上传文件名的新内容）：" + "、".join(report.replaced))
    shown = public_report(report)
    lines += [f"提示：{n}" for n in shown.renamed_notes()]
    lines += [f"已跳过：{s}" for s in shown.skipped] + [f"提示：{w}" for w in report.warnings]
    if report.vectors_pending:
        lines.append(f"已可提问；{report.vectors_pending} 个段落的向量正在后台计算。")
    return lines


def public_report(report: IngestReport) -> IngestReport:
    """The report as a client may see it: every file named as answers name it (public_source), never by where the
    server keeps it."""
    return replace(report, skipped=[replace(s, source=public_source(s.source)) for s in report.skipped],
                   renamed=[(public_source(src), new, old) for src, new, old in report.renamed])
