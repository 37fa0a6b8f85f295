"""Two real finished runs in one output directory, shared by the interop tests: the tiny
random Llama with a random TopK SAE, the real caching, sampling and scoring code, and a
scripted OpenAI-compatible server as the scorer LLM (fast and deterministic). ``generated``
explains with the ``stats`` explainer; ``user`` scores a user explanations file with awkward
texts (quotes, commas, tabs, non-ASCII, a newline, U+2028) and two explanations for one latent."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import pandas as pd
import pytest

from autointerp.config import (
    CacheConfig,
    CorpusConfig,
    ExplainConfig,
    LLMConfig,
    RunConfig,
    SamplingConfig,
    ScoringConfig,
)
from autointerp.pipeline import run
from autointerp.store import read_table
from tests.helpers import write_saelens
from tests.servers.scripted_openai import ScriptedServer

AWKWARD = [
    "quotes \"double\" and 'single'",
    "commas, semicolons; a tab\tand a backslash \\",
    "naïve café — 日本語 🙂\u2028after a line separator",
    "line one\nline two",
]


@dataclass(frozen=True)
class Runs:
    out: Path
    generated: str
    """Run id of the stats-explainer run."""
    user: str
    """Run id of the run that scored AWKWARD explanations."""
    d_sae: int
    config: RunConfig
    """The generated run's config (its LLM URL is gone once the fixture returns)."""


@pytest.fixture(scope="session")
def runs(tiny_llama: Path, tmp_path_factory: pytest.TempPathFactory) -> Runs:
    root = tmp_path_factory.mktemp("interop")
    sae = write_saelens(root / "sae", d_in=64, d_sae=256, k=4, model_name=None)
    out = root / "out"
    with ScriptedServer(p_yes=0.7) as srv:
        cfg = RunConfig(
            sae=str(sae),
            model=str(tiny_llama),
            latents="live:5",
            corpus=CorpusConfig(n_tokens=3200),
            # reuse off: keep these shards out of the user's activation cache
            cache=CacheConfig(dtype="float32", shard_windows=40, reuse=False),
            sampling=SamplingConfig(n_explain=4, n_score=4, n_nonactivating=4, min_examples=6),
            explain=ExplainConfig(explainer="stats"),
            llm=LLMConfig(backend="openai", base_url=srv.url, model="", chat_as_text=True),
            scoring=ScoringConfig(scorers=("detection", "fuzz"), n_bootstrap=0),
        )
        generated = run(cfg, out, progress=False).run_id
        expl = read_table(out, "explanations", run_id=generated)
        live = sorted(expl.loc[expl["status"] == "ok", "latent"])[:3]
        user_file = root / "awkward.csv"
        pd.DataFrame(
            {"latent": [live[0], live[0], live[1], live[2]], "explanation": AWKWARD}
        ).to_csv(user_file, index=False)
        user = run(replace(cfg, explanations=str(user_file)), out, progress=False).run_id
    stored = read_table(out, "explanations", run_id=user)
    assert sorted(stored.loc[stored["status"] == "ok", "explanation"]) == sorted(AWKWARD)
    return Runs(out=out, generated=generated, user=user, d_sae=256, config=cfg)


def ok_explanations(out: Path, run_id: str) -> pd.DataFrame:
    """The run's usable explanations as (latent, explanation), sorted."""
    df = read_table(out, "explanations", run_id=run_id)
    df = df[(df["status"] == "ok") & (df["explanation"] != "")]
    return df.sort_values(["latent", "explanation_id"])[["latent", "explanation"]].reset_index(
        drop=True
    )


def first_explanations(out: Path, run_id: str) -> pd.DataFrame:
    """One explanation per latent: its lowest usable explanation_id."""
    return ok_explanations(out, run_id).drop_duplicates("latent").reset_index(drop=True)


def pairs(df: pd.DataFrame) -> list[tuple[int, str]]:
    return sorted(zip(df["latent"].astype(int), df["explanation"].astype(str), strict=True))
