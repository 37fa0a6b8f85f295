"""Files on the service's store: a local path, or a path inside an fsspec URL
(``s3://bucket/prefix``), so that workers on machines that share no filesystem share a job.

Everything the job store keeps (job records, markers, staged batches, statistics, the replay
store, the activation shards) is named by a :data:`StorePath`: a ``pathlib.Path`` under a
local root, a :class:`RemotePath` under a URL root. Both answer the same few calls (``/``,
``name``, ``stem``, ``parent``, ``exists``, ``is_file``, ``glob``, ``iterdir``, ``unlink``,
``read_bytes``); writes go through :func:`write_bytes` and its kin, atomic on either
(locally a temp file renamed into place, on an object store one PUT). :func:`guard` is the
one place where a backend's failure (``OSError``, a botocore error, a malformed file)
becomes a :class:`~autointerp.errors.StoreError` naming the path.
"""

from __future__ import annotations

import io
import json
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath
from typing import Any, TypeAlias

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from autointerp.errors import StoreError
from autointerp.store.atomic import atomic_bytes, atomic_parquet, json_text
from autointerp.store.remote import filesystem, is_url

__all__ = [
    "RemotePath",
    "StorePath",
    "glob",
    "guard",
    "load_npy",
    "open_npz",
    "read_json",
    "read_parquet",
    "read_text",
    "rmtree",
    "save_npy",
    "save_npz",
    "store_path",
    "write_bytes",
    "write_json",
    "write_parquet",
    "write_text",
]


def _backend_errors() -> tuple[type[BaseException], ...]:
    errors: tuple[type[BaseException], ...] = (OSError, ValueError, EOFError)
    try:
        from botocore.exceptions import BotoCoreError, ClientError
    except ImportError:
        return errors
    return (*errors, BotoCoreError, ClientError)


@contextmanager
def guard(path: object, doing: str = "read") -> Iterator[None]:
    """Turn a storage backend's failure inside the block into a ``StoreError`` naming
    ``path`` (``doing``: what was being done, for the message)."""
    try:
        yield
    except StoreError:
        raise
    except _backend_errors() as exc:
        raise StoreError(f"cannot {doing} {path}: {type(exc).__name__}: {exc}") from exc


class RemotePath:
    """A file or folder inside an fsspec filesystem (listings are never cached: another
    machine may have written since)."""

    def __init__(self, fs: Any, path: str) -> None:
        self.fs, self.path = fs, path.rstrip("/")

    @classmethod
    def from_url(cls, url: str) -> RemotePath:
        return cls(*filesystem(url, listings_cache=False))

    def __truediv__(self, name: str) -> RemotePath:
        return RemotePath(self.fs, f"{self.path}/{name}")

    def __str__(self) -> str:
        return str(self.fs.unstrip_protocol(self.path))

    def __repr__(self) -> str:
        return f"RemotePath({str(self)!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, RemotePath) and str(other) == str(self)

    def __hash__(self) -> int:
        return hash(str(self))

    def __lt__(self, other: RemotePath) -> bool:
        return self.path < other.path

    @property
    def name(self) -> str:
        return PurePosixPath(self.path).name

    @property
    def stem(self) -> str:
        return PurePosixPath(self.path).stem

    @property
    def parent(self) -> RemotePath:
        return RemotePath(self.fs, str(PurePosixPath(self.path).parent))

    def _child(self, path: str) -> RemotePath:
        return RemotePath(self.fs, path)

    def exists(self) -> bool:
        with guard(self, "look up"):
            return bool(self.fs.exists(self.path))

    def is_file(self) -> bool:
        with guard(self, "look up"):
            return bool(self.fs.isfile(self.path))

    def is_dir(self) -> bool:
        with guard(self, "look up"):
            return bool(self.fs.isdir(self.path))

    def iterdir(self) -> Iterator[RemotePath]:
        with guard(self, "list"):
            names = self.fs.ls(self.path, detail=False)
        return iter(sorted(self._child(str(n)) for n in names if str(n).rstrip("/") != self.path))

    def glob(self, pattern: str) -> Iterator[RemotePath]:
        with guard(self, "list"):
            names = self.fs.glob(f"{self.path}/{pattern}")
        return iter(sorted(self._child(str(n)) for n in names))

    def read_bytes(self) -> bytes:
        with guard(self):
            return bytes(self.fs.cat_file(self.path))

    def read_text(self, encoding: str = "utf-8") -> str:
        return self.read_bytes().decode(encoding)

    def write_bytes(self, data: bytes) -> int:
        """One PUT: readers see the old object or the new one, never half of one."""
        with guard(self, "write"):
            self.fs.pipe_file(self.path, data)
        return len(data)

    def write_text(self, text: str, encoding: str = "utf-8") -> int:
        return self.write_bytes(text.encode(encoding))

    def unlink(self, missing_ok: bool = False) -> None:
        with guard(self, "delete"):
            if not self.fs.exists(self.path):
                if missing_ok:
                    return
                raise FileNotFoundError(self.path)
            self.fs.rm_file(self.path)

    def mkdir(self, parents: bool = False, exist_ok: bool = False) -> None:
        """Nothing to do: an object store has no folders, only keys."""


StorePath: TypeAlias = Path | RemotePath
"""A file or folder on the store: local, or inside an fsspec URL."""


def store_path(root: Path | str | RemotePath) -> StorePath:
    """The store path of a root given as a local path or a URL (``s3://bucket/prefix``)."""
    if isinstance(root, RemotePath | Path):
        return root
    return RemotePath.from_url(root) if is_url(root) else Path(root)


def glob(path: StorePath, pattern: str) -> list[StorePath]:
    """The files and folders under ``path`` that match ``pattern``, sorted by name."""
    found: list[StorePath] = list(path.glob(pattern))
    return sorted(found, key=str)


def write_bytes(path: StorePath, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (parents created where there are folders)."""
    if isinstance(path, RemotePath):
        path.write_bytes(data)
        return
    with guard(path, "write"):
        atomic_bytes(path, data)


def write_text(path: StorePath, text: str) -> None:
    write_bytes(path, text.encode("utf-8"))


def write_json(path: StorePath, data: Any) -> None:
    """Write ``data`` as JSON (:func:`~autointerp.store.atomic.json_text`), atomically
    (locally temp file + rename, on an object store one PUT)."""
    write_text(path, json_text(data))


def read_text(path: StorePath) -> str:
    with guard(path):
        return path.read_text(encoding="utf-8")


def read_json(path: StorePath) -> Any:
    text = read_text(path)
    with guard(path):
        return json.loads(text)


def rmtree(path: StorePath) -> None:
    """Delete a folder and everything under it (nothing if it is absent)."""
    with guard(path, "delete"):
        if isinstance(path, RemotePath):
            if path.fs.exists(path.path):
                path.fs.rm(path.path, recursive=True)
        elif path.exists():
            shutil.rmtree(path)


def save_npy(path: StorePath, array: np.ndarray) -> None:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    write_bytes(path, buffer.getvalue())


def load_npy(path: StorePath) -> np.ndarray:
    with guard(path):
        if isinstance(path, RemotePath):
            return np.asarray(np.load(io.BytesIO(path.read_bytes()), allow_pickle=False))
        return np.asarray(np.load(path, allow_pickle=False))


def save_npz(path: StorePath, arrays: dict[str, np.ndarray], *, compressed: bool = False) -> None:
    buffer = io.BytesIO()
    if compressed:
        np.savez_compressed(buffer, **arrays)  # type: ignore[arg-type]
    else:
        np.savez(buffer, **arrays)  # type: ignore[arg-type]
    write_bytes(path, buffer.getvalue())


def open_npz(path: StorePath) -> Any:
    """``np.load`` of an ``.npz`` (use it as a context manager; members load lazily)."""
    with guard(path):
        if isinstance(path, RemotePath):
            return np.load(io.BytesIO(path.read_bytes()), allow_pickle=False)
        return np.load(path, allow_pickle=False)


def write_parquet(path: StorePath, table: pa.Table) -> None:
    if isinstance(path, RemotePath):
        sink = pa.BufferOutputStream()
        pq.write_table(table, sink)
        path.write_bytes(sink.getvalue().to_pybytes())
        return
    with guard(path, "write"):
        atomic_parquet(path, table)


def read_parquet(path: StorePath) -> pa.Table:
    with guard(path):
        if isinstance(path, RemotePath):
            return pq.read_table(io.BytesIO(path.read_bytes()))
        return pq.read_table(path)
