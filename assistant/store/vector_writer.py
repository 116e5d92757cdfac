"""Writes to an embedded Chroma store, done by a child process with a deadline: a write chromadb cannot finish (on a
full disk it was seen looping with the interpreter's lock held, so no request and no SIGTERM got through) costs the
child, never the process that serves."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
from multiprocessing.connection import Connection
from pathlib import Path

from ..errors import StoreUnavailable

log = logging.getLogger(__name__)

# One write is at most a batch of 4,000 vectors, well under a second here; a write still running after this long is
# stuck, and its child is killed (the vector store is then checked, and rebuilt from the catalog if torn).
VECTOR_WRITE_TIMEOUT_S = 60.0
# A new child imports chromadb and opens the store: about a second, more on a loaded machine.
WRITER_START_TIMEOUT_S = 60.0


class VectorWriter:
    """upsert and delete on one collection of an embedded Chroma store, each in a child process that answers within
    VECTOR_WRITE_TIMEOUT_S or is killed. Raises OSError(ENOSPC) text as StoreUnavailable; the caller decides what a
    failed write means (index.py keeps the store marked dirty until a later write is whole)."""

    def __init__(self, path: Path, collection: str, timeout_s: float = VECTOR_WRITE_TIMEOUT_S):
        self.path, self.collection, self.timeout_s = path, collection, timeout_s
        self._lock = threading.Lock()  # one write at a time through the pipes
        self._proc: subprocess.Popen | None = None
        self._to: Connection | None = None
        self._from: Connection | None = None

    def call(self, op: str, *args) -> None:
        with self._lock:
            if self._proc is None or self._proc.poll() is not None:
                self._start()
            try:
                self._to.send((op, args))
                answered = self._from.poll(self.timeout_s)
            except (OSError, EOFError):  # the child died: its pipe is gone
                answered = False
            if not answered:
                self._kill()
                raise StoreUnavailable(f"向量库写入在 {self.timeout_s:.0f} 秒内没有完成，已中止；已导入的文档不受影响，"
                                       "向量稍后补上。")
            try:
                status, detail = self._from.recv()
            except (OSError, EOFError):
                self._kill()
                raise StoreUnavailable("向量库写入进程意外退出；已导入的文档不受影响，向量稍后补上。") from None
            if status != "ok":
                raise VectorWriteFailed(detail)

    def _start(self) -> None:
        """A new child: `python -m assistant.store.vector_writer` with a pipe each way (a fresh interpreter, never a
        fork of a process that serves from many threads, and never a re-run of the caller's main script, as
        multiprocessing's spawn would do)."""
        down_r, down_w = os.pipe()
        up_r, up_w = os.pipe()
        try:
            proc = subprocess.Popen(
                [sys.executable, "-m", "assistant.store.vector_writer", str(self.path), self.collection, str(down_r),
                 str(up_w), str(os.getpid())],
                pass_fds=(down_r, up_w), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
        finally:
            os.close(down_r)
            os.close(up_w)
        to, frm = Connection(down_w, readable=False), Connection(up_r, writable=False)
        try:
            started = frm.recv() if frm.poll(WRITER_START_TIMEOUT_S) else ("error", "did not start in time")
        except (OSError, EOFError):
            started = ("error", "exited while starting")
        if started != ("ok", "ready"):
            proc.kill()
            proc.wait(5)
            to.close()
            frm.close()
            raise VectorWriteFailed(f"the vector writer could not open the store: {started[1]}")
        self._proc, self._to, self._from = proc, to, frm

    def _kill(self) -> None:
        if self._proc is not None:
            log.warning("a vector write did not finish in %.0f s; its process is stopped", self.timeout_s)
            self._proc.kill()
            self._proc.wait(5)
        self._close_pipes()

    def _close_pipes(self) -> None:
        for conn in (self._to, self._from):
            if conn is not None:
                conn.close()
        self._proc = self._to = self._from = None

    def close(self) -> None:
        """Stop the child (before the store it writes is removed, and when the index closes)."""
        with self._lock:
            if self._proc is not None and self._proc.poll() is None:
                try:
                    self._to.send(("stop", ()))
                    self._proc.wait(5)
                except (OSError, EOFError, subprocess.TimeoutExpired):
                    self._proc.kill()
                    self._proc.wait(5)
            self._close_pipes()


class VectorWriteFailed(StoreUnavailable):
    """chromadb refused a write (its own words in `detail`, for the log); the user reads one sentence."""

    def __init__(self, detail: str):
        super().__init__("向量库写入失败；已导入的文档不受影响，向量稍后补上。")
        self.detail = detail


def _serve(to_parent: Connection, from_parent: Connection, path: str, collection: str) -> None:
    """The child: open the store, then answer (op, args) messages with ("ok", None) or ("error", what chromadb said)
    until told to stop or the parent is gone."""
    try:
        from .vectorstore import local_client, open_collection

        store = open_collection(local_client(Path(path)), collection)
    except Exception as exc:  # noqa: BLE001 - a full disk, a torn store: told to the parent, which decides
        to_parent.send(("error", f"{type(exc).__name__}: {str(exc)[:500]}"))
        return
    to_parent.send(("ok", "ready"))
    while True:
        try:
            op, args = from_parent.recv()
        except (EOFError, OSError):
            return
        if op == "stop":
            return
        try:
            if op == "upsert":
                ids, vectors, metadatas, documents = args
                store.upsert(ids=ids, embeddings=vectors.tolist(), metadatas=metadatas,
                             **({"documents": documents} if documents is not None else {}))
            elif op == "delete":
                store.delete(ids=args[0])
            to_parent.send(("ok", None))
        except Exception as exc:  # noqa: BLE001 - chromadb's errors, handed to the parent as text
            to_parent.send(("error", f"{type(exc).__name__}: {str(exc)[:500]}"))


if __name__ == "__main__":
    from .children import die_with_parent

    die_with_parent(int(sys.argv[5]))
    _serve(Connection(int(sys.argv[4]), readable=False), Connection(int(sys.argv[3]), writable=False),
           sys.argv[1], sys.argv[2])
