"""Rule-defined token concepts of the stdlib corpus, and their truth table.

Each :class:`Concept` labels the tokens of a window by a rule over the decoded token and its
neighbours (a "whole word" is a token whose word does not continue into the previous or the
next token). Every concept comes with the explanation a researcher would write (``right``)
and related but wrong ones (``wrong``). Counts on the first 150k tokens of ``stdlib``
(SmolLM2 tokenizer, windows of 32) range from ~320 (``prompt``) to ~4,500 (``quote``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["CONCEPTS", "Concept", "label_tokens", "label_windows"]


@dataclass(frozen=True)
class Token:
    text: str  # decoded token, leading space kept
    stripped: str
    lower: str
    whole: bool  # a whole alphabetic word


@dataclass(frozen=True)
class Concept:
    name: str
    right: str
    wrong: tuple[str, ...]
    rule: Callable[[Token], bool]


def _words(*words: str) -> Callable[[Token], bool]:
    vocab = frozenset(words)
    return lambda t: t.whole and t.lower in vocab


def _exact(*texts: str) -> Callable[[Token], bool]:
    vocab = frozenset(texts)
    return lambda t: t.stripped in vocab


_NOT_ED = frozenset({"need", "speed", "embed", "indeed", "hundred", "seed", "feed", "proceed"})

CONCEPTS: tuple[Concept, ...] = (
    Concept(
        "digits",
        "digits and numbers",
        ("punctuation marks", "single letters", "number words such as one and two"),
        lambda t: bool(t.stripped) and t.stripped.isdigit(),
    ),
    Concept(
        "past_tense",
        "past-tense verbs and participles ending in -ed",
        ("verbs in the present tense", "adjectives", "words ending in -ing"),
        lambda t: (
            t.whole and t.lower.endswith("ed") and len(t.lower) >= 5 and t.lower not in _NOT_ED
        ),
    ),
    Concept(
        "files",
        "words about files, paths and directories",
        ("words about networks and sockets", "words about databases", "words about memory"),
        _words(
            "file",
            "files",
            "path",
            "paths",
            "directory",
            "directories",
            "filename",
            "filenames",
            "folder",
            "dir",
        ),
    ),
    Concept(
        "errors",
        "errors and exceptions",
        ("warnings about deprecated features", "successful results", "debugging and logging"),
        _words(
            "error",
            "errors",
            "exception",
            "exceptions",
            "raise",
            "raised",
            "raises",
            "warning",
            "warnings",
            "fail",
            "fails",
            "failed",
        ),
    ),
    Concept(
        "booleans",
        "the constants True, False and None",
        ("numbers such as 0 and 1", "keywords such as if and else", "names of variables"),
        _words("true", "false", "none"),
    ),
    Concept(
        "modals",
        "modal verbs such as can, may, must and should",
        ("negation words such as not and never", "past-tense verbs", "pronouns such as it and we"),
        _words(
            "may", "must", "should", "can", "could", "might", "will", "would", "shall", "cannot"
        ),
    ),
    Concept(
        "negation",
        "negation words such as not, no and never",
        ("modal verbs such as can and must", "words of agreement such as yes", "conjunctions"),
        _words("not", "no", "never", "nothing", "neither", "nor", "without"),
    ),
    Concept(
        "ordinals",
        "ordinal and position words such as first, second, last and next",
        ("digits and numbers", "words about time", "words about size"),
        _words("first", "second", "third", "last", "next", "previous", "final"),
    ),
    Concept(
        "return",
        "the word return and its forms (returns, returned)",
        ("the word raise", "the word import", "the word yield"),
        _words("return", "returns", "returned", "returning"),
    ),
    Concept(
        "turtle",
        "the word turtle (turtle graphics)",
        ("animals", "drawing and colours", "the word screen"),
        _words("turtle", "turtles"),
    ),
    Concept(
        "strings",
        "words about strings, text and characters",
        ("words about numbers and integers", "quotation marks", "words about files"),
        _words(
            "string",
            "strings",
            "str",
            "text",
            "bytes",
            "character",
            "characters",
            "char",
            "unicode",
        ),
    ),
    Concept(
        "classes",
        "words about classes, objects and instances",
        ("words about functions and methods", "words about modules", "words about types of data"),
        _words(
            "class",
            "classes",
            "object",
            "objects",
            "instance",
            "instances",
            "subclass",
            "subclasses",
        ),
    ),
    Concept(
        "functions",
        "words about functions and methods",
        ("words about classes and objects", "words about arguments", "words about modules"),
        _words("function", "functions", "method", "methods", "def", "lambda", "callable"),
    ),
    Concept(
        "arguments",
        "words about arguments and parameters",
        ("words about functions and methods", "words about return values", "words about names"),
        _words(
            "argument",
            "arguments",
            "parameter",
            "parameters",
            "arg",
            "args",
            "kwargs",
            "keyword",
            "keywords",
        ),
    ),
    Concept(
        "conditionals",
        "conditional words such as if, when and whether",
        ("loop words such as for and while", "negation words", "modal verbs"),
        _words("if", "else", "elif", "when", "unless", "otherwise", "whether"),
    ),
    Concept(
        "containers",
        "container types such as list, set, tuple and dictionary",
        ("words about strings", "words about numbers", "words about classes"),
        _words(
            "list",
            "lists",
            "tuple",
            "tuples",
            "dict",
            "dictionary",
            "dictionaries",
            "set",
            "sets",
            "sequence",
            "sequences",
            "array",
            "arrays",
            "mapping",
        ),
    ),
    Concept(
        "modules",
        "words about modules, packages and imports",
        ("words about classes", "words about files", "words about functions"),
        _words(
            "module", "modules", "import", "imports", "package", "packages", "imported", "library"
        ),
    ),
    Concept(
        "pronouns",
        "personal pronouns such as it, we, they and you",
        ("articles such as the and a", "modal verbs", "names of people"),
        _words("it", "they", "we", "you", "he", "she", "them", "us"),
    ),
    Concept(
        "open_brackets",
        "opening parentheses and brackets",
        ("closing parentheses and brackets", "quotation marks", "commas and periods"),
        _exact("(", "[", "{", '("', "(['"),
    ),
    Concept(
        "close_brackets",
        "closing parentheses and brackets",
        ("opening parentheses and brackets", "quotation marks", "commas and periods"),
        _exact(")", "]", "}", ").", "),", "):", ')"'),
    ),
    Concept(
        "quotes",
        "quotation marks and backticks",
        ("parentheses and brackets", "words in quotes", "commas and periods"),
        lambda t: bool(t.stripped) and set(t.stripped) <= set("\"'`"),
    ),
    Concept(
        "dunder",
        "double underscores of special names such as __init__",
        ("quotation marks", "single letters", "parentheses"),
        lambda t: "__" in t.stripped,
    ),
    Concept(
        "prompt",
        "the interactive prompt >>> of code examples",
        ("comparison operators", "comments in code", "arrows"),
        _exact(">>>"),
    ),
    Concept(
        "comparison",
        "equals signs and comparison operators",
        ("the interactive prompt >>>", "arithmetic operators", "parentheses"),
        _exact("=", "==", "!=", "<", ">", "<=", ">="),
    ),
)


def _alnum(ch: str) -> bool:
    return ch.isalnum() or ch == "_"


def label_tokens(texts: Sequence[str], concepts: Sequence[Concept] = CONCEPTS) -> np.ndarray:
    """bool [len(texts), len(concepts)]: which concepts each token of one window has.
    Position 0 (BOS) is never labelled."""
    out = np.zeros((len(texts), len(concepts)), dtype=bool)
    for j in range(1, len(texts)):
        text = texts[j]
        stripped = text.strip()
        prev = texts[j - 1] if j > 1 else " "
        nxt = texts[j + 1] if j + 1 < len(texts) else " "
        whole = (
            stripped.isalpha()
            and (not _alnum(text[0]) or not prev or not _alnum(prev[-1]))
            and (not nxt or not _alnum(nxt[0]))
        )
        tok = Token(text, stripped, stripped.lower(), whole)
        for c, concept in enumerate(concepts):
            out[j, c] = concept.rule(tok)
    return out


def label_windows(
    tokens: np.ndarray, decode: Sequence[str], concepts: Sequence[Concept] = CONCEPTS
) -> np.ndarray:
    """bool [n_windows, ctx_len, n_concepts] for token ids ``tokens`` [n_windows, ctx_len];
    ``decode[i]`` is token i as text."""
    return np.stack([label_tokens([decode[i] for i in row], concepts) for row in tokens])
