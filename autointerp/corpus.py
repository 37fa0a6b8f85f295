"""Text sources -> fixed-length token windows.

Every window starts with the tokenizer's BOS token (which absorbs the attention-sink
activations of position 0 and is excluded from statistics), followed by ``ctx_len - 1``
tokens of packed text; documents are joined with a blank line. The windows are the examples
that explainers and scorers see, so they are also what the Parquet output stores.

Sources: ``stdlib`` (the default), a folder of ``.txt``/``.md`` files, a single ``.txt`` /
``.md`` file, ``.jsonl`` (one JSON object per line) or ``.parquet`` with a text column.

The ``stdlib`` corpus is English prose found on every machine with Python: the ``help()``
topics (``pydoc_data.topics``, the language reference in plain text) interleaved with the
docstrings and comment blocks of the standard library's modules (tests and the codec tables of
``encodings`` excluded; only blocks that are mostly letters), in a fixed order. It changes
only with the Python version, which the corpus fingerprint records.
"""

from __future__ import annotations

import ast
import hashlib
import io
import json
import random
import sys
import sysconfig
import tokenize
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from autointerp.errors import CorpusError

__all__ = ["TokenWindows", "iter_documents", "load_windows", "python_prose"]

TEXT_SUFFIXES = (".txt", ".md")
_SKIP_DIRS = {"test", "tests", "site-packages", "idle_test", "lib2to3", "encodings"}


@dataclass(frozen=True)
class TokenWindows:
    """``tokens[i]`` is window ``i``: BOS followed by ``ctx_len - 1`` text tokens."""

    tokens: np.ndarray  # int32 [n_windows, ctx_len]
    source: str
    fingerprint: str

    @property
    def n_windows(self) -> int:
        return int(self.tokens.shape[0])

    @property
    def ctx_len(self) -> int:
        return int(self.tokens.shape[1])


def load_windows(
    source: str,
    tokenizer: Any,
    *,
    n_tokens: int,
    ctx_len: int,
    text_column: str = "text",
    max_positions: int | None = None,
) -> TokenWindows:
    """Tokenise ``source`` into ``n_tokens // ctx_len`` windows (fewer if it runs out)."""
    if ctx_len < 2:
        raise CorpusError(f"corpus.ctx_len must be at least 2 (BOS + 1 token), got {ctx_len}")
    if max_positions is not None and ctx_len > max_positions:
        raise CorpusError(
            f"corpus.ctx_len={ctx_len} is longer than the model allows ({max_positions} positions)"
        )
    n_windows = n_tokens // ctx_len
    if n_windows < 1:
        raise CorpusError(f"corpus.n_tokens={n_tokens} is less than one window of {ctx_len}")
    bos = tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.eos_token_id
    if bos is None:
        raise CorpusError("the tokenizer has neither a BOS nor an EOS token to start windows")
    body = ctx_len - 1
    needed = n_windows * body
    stream: list[int] = []
    separator: list[int] = []
    for doc in iter_documents(source, text_column=text_column):
        ids = tokenizer(doc, add_special_tokens=False)["input_ids"]
        if not ids:
            continue
        if stream:
            if not separator:
                separator = tokenizer("\n\n", add_special_tokens=False)["input_ids"]
            stream.extend(separator)
        stream.extend(ids)
        if len(stream) >= needed:
            break
    usable = len(stream) // body
    if usable == 0:
        raise CorpusError(
            f"corpus {source!r} has no text (or fewer than {body} tokens); expected English "
            "text in .txt/.md files, JSONL or Parquet"
        )
    n = min(usable, n_windows)
    body_tokens = np.asarray(stream[: n * body], dtype=np.int32).reshape(n, body)
    tokens = np.concatenate([np.full((n, 1), bos, dtype=np.int32), body_tokens], axis=1)
    digest = hashlib.sha256(tokens.tobytes()).hexdigest()[:16]
    return TokenWindows(tokens=tokens, source=source, fingerprint=digest)


def iter_documents(source: str, *, text_column: str = "text") -> Iterator[str]:
    """Yield the documents of a corpus source, in a fixed order."""
    if source == "stdlib":
        yield from _stdlib_documents()
        return
    path = Path(source).expanduser()
    if not path.exists():
        raise CorpusError(f"corpus {source!r} does not exist; expected 'stdlib' or a path")
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.suffix in TEXT_SUFFIXES and p.is_file())
        if not files:
            raise CorpusError(f"corpus folder {path} has no .txt or .md files")
        for file in files:
            yield _read_text(file)
    elif path.suffix in TEXT_SUFFIXES:
        yield _read_text(path)
    elif path.suffix == ".jsonl":
        yield from _jsonl_documents(path, text_column)
    elif path.suffix == ".parquet":
        yield from _parquet_documents(path, text_column)
    else:
        raise CorpusError(
            f"corpus file {path} has an unsupported type {path.suffix!r}; expected .txt, .md, "
            ".jsonl, .parquet or a folder"
        )


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise CorpusError(f"cannot read corpus file {path}: {exc}") from exc


def _jsonl_documents(path: Path, column: str) -> Iterator[str]:
    with path.open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise CorpusError(f"{path}:{lineno}: not valid JSON ({exc.msg})") from None
            if not isinstance(record, dict) or column not in record:
                raise CorpusError(f"{path}:{lineno}: no {column!r} field (corpus.text_column)")
            if isinstance(record[column], str):
                yield record[column]


def _parquet_documents(path: Path, column: str) -> Iterator[str]:
    import pyarrow.parquet as pq

    try:
        parquet = pq.ParquetFile(path)
    except Exception as exc:
        raise CorpusError(f"cannot read corpus Parquet {path}: {exc}") from exc
    names = parquet.schema_arrow.names
    if column not in names:
        raise CorpusError(
            f"corpus Parquet {path} has no column {column!r} (corpus.text_column); "
            f"columns: {', '.join(names)}"
        )
    for batch in parquet.iter_batches(columns=[column], batch_size=1024):
        for value in batch.column(0).to_pylist():
            if isinstance(value, str):
                yield value


def _stdlib_documents() -> Iterator[str]:
    """help() topics interleaved with docstrings/comments of shuffled stdlib modules."""
    from pydoc_data.topics import topics

    topic_docs = [topics[key] for key in sorted(topics)]
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    files = sorted(p for p in stdlib.rglob("*.py") if not _SKIP_DIRS & set(p.parts))
    random.Random(f"autointerp-stdlib-{sys.version_info[:2]}").shuffle(files)
    file_iter = iter(files)
    for topic in topic_docs:
        yield topic
        for file in file_iter:
            docs = list(python_prose(file))
            if docs:
                yield from docs
                break
    for file in file_iter:
        yield from python_prose(file)


def python_prose(path: Path) -> Iterator[str]:
    """Docstrings and comment blocks of one Python source file, in file order."""
    try:
        source = path.read_text(encoding="utf-8")
        tree = ast.parse(source)
    except (OSError, SyntaxError, UnicodeDecodeError, ValueError):
        return
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            doc = ast.get_docstring(node)
            if doc and len(doc) > 40:
                found.append((getattr(node, "lineno", 0), doc))
    block: list[str] = []
    start = 0
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(source).readline))
    except (tokenize.TokenError, SyntaxError):
        tokens = []
    last_line = -2
    for tok in tokens:
        if tok.type != tokenize.COMMENT:
            continue
        text = tok.string.lstrip("#").strip()
        if text.startswith("!") or not text:
            continue
        if tok.start[0] != last_line + 1 and block:
            found.append((start, " ".join(block)))
            block = []
        if not block:
            start = tok.start[0]
        block.append(text)
        last_line = tok.start[0]
    if block:
        found.append((start, " ".join(block)))
    for _line, text in sorted(found, key=lambda item: item[0]):
        if len(text) > 40 and _is_prose(text):
            yield text


def _is_prose(text: str) -> bool:
    """Mostly letters and spaces (drops character tables, ASCII art and commented-out code)."""
    wordy = sum(ch.isalpha() or ch.isspace() for ch in text)
    return wordy >= 0.8 * len(text)
