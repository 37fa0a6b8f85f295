"""Text sources -> fixed-length token windows.

Every window starts with the tokenizer's BOS token (which absorbs the attention-sink
activations of position 0 and is excluded from statistics), followed by ``ctx_len - 1``
tokens of packed text; documents are joined with a blank line. The windows are the examples
that explainers and scorers see, so they are also what the Parquet output stores.

Sources: ``stdlib`` (the default), a folder of ``.txt``/``.md`` files, a single ``.txt`` /
``.md`` file, ``.jsonl`` (one JSON object per line) or ``.parquet`` with a text column.

Corpora must be UTF-8 text. A text file (or a document of a JSONL/Parquet corpus) in which more
than ``MAX_BAD_SHARE`` of the characters are control characters (other than ``\t \n \r \f``)
or undecodable bytes (U+FFFD after decoding) is not text: binary data, or text in another
encoding such as UTF-16 or Latin-1. A single-file corpus, or a JSONL file whose first 64 KiB
are like that, is refused with a ``CorpusError`` naming the file and the shares found; the
files of a folder and the documents of JSONL/Parquet corpora are skipped one by one and
counted (``TokenWindows.skipped_documents``); a corpus with nothing usable left is refused.

The ``stdlib`` corpus is English prose found on every machine with Python: the ``help()``
topics (``pydoc_data.topics``, the language reference in plain text) interleaved with the
docstrings and comment blocks of the standard library's modules (tests and the codec tables of
``encodings`` excluded; only blocks that are mostly letters), in a fixed order. It changes
only with the Python version, which the corpus fingerprint records.
"""

from __future__ import annotations

import ast
import codecs
import hashlib
import io
import json
import logging
import random
import re
import sys
import sysconfig
import tokenize
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from autointerp.errors import CorpusError

__all__ = [
    "MAX_BAD_SHARE",
    "Skipped",
    "TokenWindows",
    "iter_documents",
    "load_windows",
    "python_prose",
    "text_problem",
]

logger = logging.getLogger(__name__)

TEXT_SUFFIXES = (".txt", ".md")
_SKIP_DIRS = {"test", "tests", "site-packages", "idle_test", "lib2to3", "encodings"}
MAX_BAD_SHARE = 0.01
"""Largest share of control characters plus U+FFFD that a document may have."""
_CONTROL = re.compile("[\x00-\x08\x0b\x0e-\x1f\x7f-\x9f\ud800-\udfff]")
_SNIFF_BYTES = 1 << 16
_UTF16_BOMS = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)


@dataclass(frozen=True)
class TokenWindows:
    """``tokens[i]`` is window ``i``: BOS followed by ``ctx_len - 1`` text tokens."""

    tokens: np.ndarray  # int32 [n_windows, ctx_len]
    source: str
    fingerprint: str
    skipped_documents: int = 0
    """Documents read but skipped as not text (files of a folder, JSONL/Parquet records)."""
    skipped_examples: tuple[str, ...] = ()
    """Where and why, for the first few of them."""

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
    skipped = Skipped()
    for doc in iter_documents(source, text_column=text_column, skipped=skipped):
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
    if skipped.documents:
        logger.warning(
            "corpus %s: skipped %d document(s) that are not UTF-8 text, e.g. %s",
            source,
            skipped.documents,
            skipped.examples[0],
        )
    return TokenWindows(
        tokens=tokens,
        source=source,
        fingerprint=digest,
        skipped_documents=skipped.documents,
        skipped_examples=tuple(skipped.examples),
    )


@dataclass
class Skipped:
    """Documents skipped as not text: how many, and where and why for the first few."""

    documents: int = 0
    examples: list[str] = field(default_factory=list)

    def add(self, where: str, problem: str) -> None:
        self.documents += 1
        if len(self.examples) < 5:
            self.examples.append(f"{where}: {problem}")


def text_problem(text: str) -> str | None:
    """Why ``text`` is not usable text (its shares of control characters and of U+FFFD, the
    mark of undecodable bytes, when together above ``MAX_BAD_SHARE``), or None."""
    if not text:
        return None
    control = len(text) - len(_CONTROL.sub("", text))
    replaced = text.count("\ufffd")
    if control + replaced <= MAX_BAD_SHARE * len(text):
        return None
    return (
        f"{control / len(text):.1%} control characters and {replaced / len(text):.1%} "
        f"undecodable bytes (U+FFFD) in {len(text)} characters; at most "
        f"{MAX_BAD_SHARE:.0%} allowed"
    )


def iter_documents(
    source: str, *, text_column: str = "text", skipped: Skipped | None = None
) -> Iterator[str]:
    """Yield the documents of a corpus source, in a fixed order. Documents that are not text
    are counted in ``skipped`` (see the module docstring); a single text file that is not
    text, or a corpus with nothing usable, raises CorpusError."""
    if source == "stdlib":
        yield from _stdlib_documents()
        return
    skipped = skipped if skipped is not None else Skipped()
    path = Path(source).expanduser()
    if not path.exists():
        raise CorpusError(f"corpus {source!r} does not exist; expected 'stdlib' or a path")
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.suffix in TEXT_SUFFIXES and p.is_file())
        if not files:
            raise CorpusError(f"corpus folder {path} has no .txt or .md files")
        docs = _folder_documents(files, skipped)
    elif path.suffix in TEXT_SUFFIXES:
        text, problem = _read_text(path)
        if problem:
            raise CorpusError(_not_text(path, problem))
        docs = iter([text])
    elif path.suffix == ".jsonl":
        docs = _jsonl_documents(path, text_column, skipped)
    elif path.suffix == ".parquet":
        docs = _parquet_documents(path, text_column, skipped)
    else:
        raise CorpusError(
            f"corpus file {path} has an unsupported type {path.suffix!r}; expected .txt, .md, "
            ".jsonl, .parquet or a folder"
        )
    usable = 0
    for doc in docs:
        usable += 1
        yield doc
    if not usable and skipped.documents:
        raise CorpusError(
            f"corpus {path} has no usable text: all {skipped.documents} document(s) were "
            f"skipped as not UTF-8 text, e.g. {skipped.examples[0]}"
        )


def _not_text(path: Path, problem: str) -> str:
    return (
        f"corpus file {path} is not UTF-8 text: {problem}; expected UTF-8 text (re-encode it, "
        "e.g. iconv -f UTF-16 -t UTF-8 or -f LATIN1 -t UTF-8, or leave binary files out)"
    )


def _problem_with_hint(text: str, head: bytes) -> str | None:
    problem = text_problem(text)
    if problem and head.startswith(_UTF16_BOMS):
        problem += " (the file starts with a UTF-16 byte-order mark)"
    return problem


def _read_text(path: Path) -> tuple[str, str | None]:
    """The file decoded as UTF-8 (a UTF-8 byte-order mark dropped), and its problem if it is
    not text."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise CorpusError(f"cannot read corpus file {path}: {exc}") from exc
    text = data.decode("utf-8-sig", errors="replace")
    problem = _problem_with_hint(text, data[:2])
    if problem is None and "\ufffd" in text:
        logger.warning(
            "corpus file %s: %d undecodable byte sequence(s) read as U+FFFD (not UTF-8?)",
            path,
            text.count("\ufffd"),
        )
    return text, problem


def _folder_documents(files: list[Path], skipped: Skipped) -> Iterator[str]:
    for file in files:
        text, problem = _read_text(file)
        if problem:
            skipped.add(str(file), problem)
        else:
            yield text


def _jsonl_documents(path: Path, column: str, skipped: Skipped) -> Iterator[str]:
    with path.open("rb") as fh:
        head = fh.read(_SNIFF_BYTES)
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        problem = _problem_with_hint(decoder.decode(head, final=False), head)
        if problem:
            raise CorpusError(_not_text(path, f"its first {len(head)} bytes have {problem}"))
        fh.seek(0)
        for lineno, raw in enumerate(fh, 1):
            line = raw.decode("utf-8", errors="replace")
            if lineno == 1:
                line = line.removeprefix("\ufeff")
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise CorpusError(f"{path}:{lineno}: not valid JSON ({exc.msg})") from None
            if not isinstance(record, dict) or column not in record:
                raise CorpusError(f"{path}:{lineno}: no {column!r} field (corpus.text_column)")
            text = record[column]
            if isinstance(text, str):
                problem = text_problem(text)
                if problem:
                    skipped.add(f"{path}:{lineno}", problem)
                else:
                    yield text


def _parquet_documents(path: Path, column: str, skipped: Skipped) -> Iterator[str]:
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
    row = 0
    for batch in parquet.iter_batches(columns=[column], batch_size=1024):
        for value in batch.column(0).to_pylist():
            row += 1
            if not isinstance(value, str):
                continue
            problem = text_problem(value)
            if problem:
                skipped.add(f"{path} row {row}", problem)
            else:
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
