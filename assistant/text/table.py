"""A frozen str → int table on disk that opens in no time: its keys sorted as UTF-8 and found by binary search in a
memory map, so a process that looks up a few dozen words does not first parse half a million of them.

Used where a cold question used to spend a fifth of its time building dicts it barely read: the BM25
vocabularies (10 MB of JSON on a 10k-article archive) and jieba's word frequencies.

File layout: MAGIC, the key count n and the integer width w (int64 each), n + 1 byte offsets into the key blob and
n values (w-byte integers: 4 when every number fits, halving the file), then the keys' UTF-8 bytes in sorted order.
"""

from __future__ import annotations

import mmap
import os
from pathlib import Path
from typing import Iterable, Iterator, Mapping

import numpy as np

MAGIC = b"SRTTAB1\n"
# Keys whose row is remembered once looked up (a binary search costs about 20 slices of the map): questions repeat
# their words, and every question looks each of its tokens up several times. Past this many, the memo starts over.
MEMO_KEYS = 1 << 16
_ENCODING = ("utf-8", "surrogatepass")  # any Python str round-trips


class SortedTable(Mapping[str, int]):
    """A read-only mapping backed by a file `write` made. The file must not change while it is open (writers
    replace it, which leaves an open map on the old file)."""

    def __init__(self, buffer) -> None:
        if bytes(buffer[: len(MAGIC)]) != MAGIC:
            raise ValueError("not a sorted table")
        n, width = (int(x) for x in np.frombuffer(buffer, dtype=np.int64, count=2, offset=len(MAGIC)))
        dtype, head = np.dtype(f"<i{width}"), len(MAGIC) + 16
        self._n = n
        self._offsets = np.frombuffer(buffer, dtype=dtype, count=n + 1, offset=head)
        self._values = np.frombuffer(buffer, dtype=dtype, count=n, offset=head + width * (n + 1))
        self._keys_at = head + width * (2 * n + 1)
        self._buffer = buffer
        self._rows: dict[str, int] = {}

    @classmethod
    def open(cls, path: Path) -> "SortedTable":
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            buffer = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) if size else b""
        return cls(buffer)

    @staticmethod
    def write(path: Path, items: Mapping[str, int] | Iterable[tuple[str, int]]) -> None:
        """Write the table of these (key, value) pairs to `path` (a later key replaces an equal earlier one)."""
        pairs = dict(items.items() if isinstance(items, Mapping) else items)
        keys = sorted((k.encode(*_ENCODING), v) for k, v in pairs.items())
        lengths = np.fromiter((len(k) for k, _ in keys), dtype=np.int64, count=len(keys))
        offsets = np.zeros(len(keys) + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        values = np.fromiter((v for _, v in keys), dtype=np.int64, count=len(keys))
        small = np.iinfo(np.int32)
        fits = offsets[-1] <= small.max and (not len(values) or small.min <= values.min() <= values.max() <= small.max)
        dtype = np.dtype("<i4" if fits else "<i8")
        with open(path, "wb") as f:
            f.write(MAGIC)
            f.write(np.array([len(keys), dtype.itemsize], dtype="<i8").tobytes())
            f.write(offsets.astype(dtype).tobytes())
            f.write(values.astype(dtype).tobytes())
            f.write(b"".join(k for k, _ in keys))

    def _key(self, i: int) -> bytes:
        start = self._keys_at
        return bytes(self._buffer[start + int(self._offsets[i]) : start + int(self._offsets[i + 1])])

    def _position(self, key: str) -> int:
        """The row of `key`, or -1."""
        if not isinstance(key, str):
            return -1
        row = self._rows.get(key)
        if row is None:
            if len(self._rows) >= MEMO_KEYS:
                self._rows.clear()
            row = self._rows[key] = self._search(key)
        return row

    def _search(self, key: str) -> int:
        wanted = key.encode(*_ENCODING)
        lo, hi = 0, self._n
        while lo < hi:
            mid = (lo + hi) // 2
            if self._key(mid) < wanted:
                lo = mid + 1
            else:
                hi = mid
        return lo if lo < self._n and self._key(lo) == wanted else -1

    def __getitem__(self, key: str) -> int:
        i = self._position(key)
        if i < 0:
            raise KeyError(key)
        return int(self._values[i])

    def __contains__(self, key: object) -> bool:
        return self._position(key) >= 0  # type: ignore[arg-type]

    def __len__(self) -> int:
        return self._n

    def __iter__(self) -> Iterator[str]:
        return (self._key(i).decode(*_ENCODING) for i in range(self._n))
