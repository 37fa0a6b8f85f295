"""Tests of autointerp.compare, and what they share: a pool of realistic explanation texts
(each a different concept, written the way explainers phrase SAE latents) and a writer of
real explanation stores (RunWriter Parquet files plus run manifests)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from autointerp.compare import NamedEmbedder, make_embedder
from autointerp.store import SCHEMAS, RunWriter

T0 = pd.Timestamp("2025-01-01T00:00:00Z")
MODEL = "HuggingFaceTB/SmolLM2-135M-Instruct"
HOOK = "blocks.15.hook_resid_post"

POOL = [
    "closing parentheses at the end of a function call",
    "opening square brackets that start a list literal",
    "the keyword def at the start of a Python function definition",
    "the keyword class in class definitions",
    "import statements at the top of a module",
    "the word self as the first argument of a method",
    "indentation whitespace at the start of a code line",
    "string quotes around dictionary keys",
    "the equals sign in keyword arguments",
    "comparison operators such as == and !=",
    "the return keyword followed by a value",
    "docstrings that describe what a function returns",
    "comments that start with a hash sign",
    "decorators such as @property and @staticmethod",
    "exception names like ValueError and TypeError",
    "the raise keyword when an error is thrown",
    "type hints after a colon in function signatures",
    "the None value in default arguments",
    "for loops over a range of numbers",
    "the if keyword that starts a condition",
    "boolean values True and False",
    "numbers in dates, especially years",
    "four-digit years between 1900 and 2020",
    "prices written with a dollar sign",
    "percentages after a number",
    "times of day such as 9 am or 5 pm",
    "ordinal numbers like first, second and third",
    "the digit zero in decimal numbers",
    "units of length such as meters and miles",
    "units of weight such as kilograms and pounds",
    "names of months of the year",
    "days of the week",
    "names of European capital cities",
    "country names in Africa",
    "names of American states",
    "rivers and mountains in geography texts",
    "French words in English sentences",
    "German nouns with capital letters",
    "Spanish greetings and common phrases",
    "Latin legal terms such as de facto",
    "Japanese names of people",
    "surnames of English authors",
    "first names of women",
    "titles such as Mr, Mrs and Dr before a name",
    "pronouns referring to a group of people",
    "the word the before a noun",
    "the article a before a consonant",
    "the conjunction and joining two clauses",
    "the preposition of in possessive phrases",
    "past tense verbs ending in -ed",
    "plural nouns ending in -s",
    "adverbs ending in -ly",
    "negation words such as not and never",
    "modal verbs like could, would and should",
    "questions that start with why",
    "the first word of a sentence",
    "the end of a sentence marked by a period",
    "commas separating items in a list",
    "quotation marks around direct speech",
    "hyphens inside compound words",
    "apostrophes in contractions like don't",
    "the colon before an explanation or list",
    "semicolons between independent clauses",
    "emails addresses and the at sign",
    "URLs starting with http or www",
    "file paths with forward slashes",
    "file extensions such as .py and .txt",
    "version numbers like 1.2.3",
    "hexadecimal numbers starting with 0x",
    "mathematical symbols such as plus and minus",
    "variables named x and y in equations",
    "fractions and division",
    "matrix and tensor shapes in machine learning code",
    "the word tensor in PyTorch code",
    "numpy array indexing with colons",
    "pandas DataFrame column names",
    "loss functions and gradients in deep learning",
    "learning rates and optimizers",
    "the word model in machine learning texts",
    "neural network layers such as Linear and Conv2d",
    "the word dataset and data loading",
    "random seeds and reproducibility",
    "HTTP status codes such as 404 and 500",
    "SQL keywords like SELECT and WHERE",
    "HTML tags in angle brackets",
    "JSON keys in curly braces",
    "command-line flags starting with two dashes",
    "environment variables in capital letters",
    "log messages about errors and warnings",
    "unit tests and assertions",
    "the word deprecated in warnings",
    "license text and copyright notices",
    "animals such as dogs, cats and horses",
    "birds and their songs",
    "trees and plants in a garden",
    "food and cooking ingredients",
    "fruits such as apples and oranges",
    "drinks such as coffee and tea",
    "colours such as red, blue and green",
    "clothing and fashion items",
    "parts of the human body",
    "diseases and medical symptoms",
    "hospital and doctors",
    "emotions such as happiness and sadness",
    "words about fear and danger",
    "family members such as mother and brother",
    "children and school",
    "sports such as football and tennis",
    "music instruments like guitar and piano",
    "films and actors",
    "books and reading",
    "religion and churches",
    "war and soldiers",
    "politics and elections",
    "laws and courts",
    "money and banking",
    "the stock market and investments",
    "companies and their products",
    "cars and driving",
    "trains and railway stations",
    "airplanes and airports",
    "ships and the sea",
    "weather such as rain and snow",
    "the seasons of the year",
    "space, planets and stars",
    "chemistry and chemical elements",
    "physics terms such as energy and force",
    "biology and cells",
    "computers and software",
    "the internet and websites",
    "phones and mobile apps",
    "games and playing",
    "houses and rooms",
    "furniture such as chairs and tables",
    "tools like hammers and saws",
    "buildings and architecture",
    "cities and urban life",
    "farms and agriculture",
    "the ocean and fish",
    "mountains and hiking",
    "travel and tourism",
    "holidays such as Christmas",
    "birthdays and celebrations",
    "time words such as yesterday and tomorrow",
    "words expressing large quantities",
    "superlatives such as best and largest",
    "comparatives ending in -er",
    "words that express uncertainty such as maybe",
    "polite requests with please",
    "insults and rude words",
    "words in all capital letters",
    "repeated characters such as !!! or ...",
    "emoji and emoticons",
    "the newline character at the end of a paragraph",
    "tokens right after an opening quote",
    "the second token of a word split into pieces",
    "the end of a long word split into subword tokens",
]
"""157 distinct explanations, one concept each."""


def write_run(
    root: Path,
    run_id: str,
    sha: str,
    texts: list[str],
    *,
    latents: list[int] | None = None,
    sae_path: str | None = "demo",
    model: str = MODEL,
    hook: str = HOOK,
    hours: int = 0,
    failed: tuple[int, ...] = (),
) -> Path:
    """A run whose latent ``latents[i]`` (default i) is explained by ``texts[i]``; the
    latents in ``failed`` (others) get only an llm_error row (nothing to compare)."""
    latents = list(range(len(texts))) if latents is None else latents
    prov = {
        "run_id": run_id,
        "model": model,
        "sae_sha256": sha,
        "hook_name": hook,
        "seed": 0,
        "created_at": T0 + pd.Timedelta(hours=hours),
        "llm": "local:test",
        "prompt_version": "default.v1",
    }
    rows = [
        {"latent": lat, "explanation_id": 0, "explanation": text, "status": "ok"}
        for lat, text in zip(latents, texts, strict=True)
    ]
    rows += [
        {"latent": lat, "explanation_id": 0, "explanation": "", "status": "llm_error"}
        | {"error": "timeout"}
        for lat in failed
    ]
    df = pd.DataFrame([{"source": "generated:default", **prov, **r} for r in rows])
    for name in SCHEMAS["explanations"].names:
        if name not in df.columns:
            df[name] = None
    writer = RunWriter(root, run_id)
    writer.add("explanations", df[SCHEMAS["explanations"].names])
    inputs = {"sae_sha256": sha, "hook_name": hook, "model": model}
    if sae_path is not None:
        inputs["sae_path"] = sae_path
    writer.commit(
        {"run_id": run_id, "created_at": prov["created_at"].isoformat(), "inputs": inputs}
    )
    return root


N = len(POOL) // 2
"""Latents a side in the standard store (half the pool)."""
SHARED_SHA = "5a5a000000000001"
SMALL_SHA = "5a5b000000000002"


def split(seed: int) -> tuple[list[str], list[str]]:
    """The pool cut at random into two halves of N texts."""
    order = np.random.default_rng(seed).permutation(len(POOL))
    return [POOL[i] for i in order[:N]], [POOL[i] for i in order[N : 2 * N]]


def build_store(root: Path, demo_sha: str, random_sha: str) -> Path:
    """demo (``demo_sha``): latents 0..N-1 explained by one half of the pool (latent 100
    failed); random:demo (``random_sha``): the other half on N random latents; SHARED: N/2
    demo texts + N/2 random ones, no checkpoint path; SMALL: 20 demo texts of another
    subject model."""
    demo_texts, other = split(0)
    rng = np.random.default_rng(1)
    write_run(root, "run-demo", demo_sha, demo_texts, failed=(100,))
    random_latents = sorted(rng.choice(4096, N, replace=False).tolist())
    write_run(
        root,
        "run-random",
        random_sha,
        other,
        latents=random_latents,
        sae_path="random:demo",
        hours=1,
    )
    half = N // 2
    write_run(
        root,
        "run-shared",
        SHARED_SHA,
        demo_texts[:half] + other[:half],
        sae_path=None,
        hook="blocks.10.hook_resid_post",
        hours=2,
    )
    write_run(
        root,
        "run-small",
        SMALL_SHA,
        demo_texts[:20],
        latents=list(range(500, 520)),
        model="other-model",
        hours=3,
    )
    return root


def memo_minilm() -> NamedEmbedder:
    """MiniLM remembering its vectors (a module's comparisons embed each text once)."""
    inner = make_embedder("minilm")
    memo: dict[str, np.ndarray] = {}

    def embed(texts: Sequence[str]) -> np.ndarray:
        todo = [t for t in dict.fromkeys(texts) if t not in memo]
        if todo:
            memo.update(zip(todo, inner(todo), strict=True))
        return np.stack([memo[t] for t in texts])

    return NamedEmbedder(inner.name, embed)
