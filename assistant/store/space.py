"""The index's disk: the free space checked before a write against the operator's reserve, and a full disk said in
one sentence (DiskFull: 507 over HTTP, exit code 4) wherever the write found it."""

from __future__ import annotations

import errno
import shutil
from pathlib import Path

from ..errors import DiskFull

# What a document's text costs on disk once committed: its rows (text, passages, tokens, facts), the WAL's copy and
# the BM25 rows, measured on crud_news_dev at under 5 bytes a byte of text.
SPACE_PER_TEXT_BYTE = 6


def full(folder: Path, reserve_mb: float) -> DiskFull:
    free = shutil.disk_usage(folder).free / 1e6
    reserve = f"（至少保留 {reserve_mb:,.0f} MB）" if reserve_mb > 0 else ""
    return DiskFull(f"磁盘空间不足：索引所在的磁盘只剩 {free:,.1f} MB{reserve}，没有写入新文档；已有的文档不受影响，仍可提问。")


def check(folder: Path, reserve_mb: float, needed: int = 0) -> None:
    """DiskFull unless `folder`'s disk keeps `reserve_mb` free after `needed` more bytes."""
    if shutil.disk_usage(folder).free - needed < reserve_mb * 1e6:
        raise full(folder, reserve_mb)


def below(folder: Path, reserve_mb: float) -> bool:
    """Whether `folder`'s disk already has less than the reserve free."""
    try:
        return shutil.disk_usage(folder).free < reserve_mb * 1e6
    except OSError:
        return False


def is_full(exc: BaseException) -> bool:
    """Whether a write failed for want of space: ENOSPC, or SQLite's "database or disk is full" in the error's words
    (or in its `detail`: another process's error, relayed as text)."""
    words = f"{exc} {getattr(exc, 'detail', '')}"
    return getattr(exc, "errno", None) == errno.ENOSPC or "disk is full" in words
