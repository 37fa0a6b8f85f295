"""delphi's own prompts for given latents and examples (runs in the delphi environment).

Used by ``bench_tokens.py``: reads a JSON file of latents (explanation, the latent's maximum
activation, and its train / test / non-activating examples as token strings with
activations), builds with delphi's classes, at the settings delphi's ``__main__`` uses by
default, the chat prompts delphi would send, and writes them as JSON:

* explainer: ``DefaultExplainer(client, threshold=0.3)`` (``activations=True``, ``cot=False``
  are the class defaults) on the train examples, normalised by delphi's own
  ``normalize_activations`` with the latent's maximum activation, as delphi's sampler does;
* detection and fuzzing: ``DetectionScorer`` / ``FuzzingScorer`` with
  ``n_examples_shown=num_examples_per_scorer_prompt`` (default 5), ``log_prob=False``,
  ``fuzz_type="default"``; their ``_prepare``, ``rng.shuffle``, ``_batch`` and
  ``_build_prompt`` are called exactly as ``Classifier.__call__`` calls them, one scorer
  instance for all latents (as delphi's pipeline does). Only the LLM call is left out.

``delphi.clients``' ``__init__`` imports the vLLM client (vLLM is not installed here), so the
``delphi.clients`` package is registered without running its ``__init__``; its ``client``
module (the ``Client`` base the explainer and scorers import) loads unchanged. The client
passed to delphi is a test double that refuses to generate: no prompt is sent anywhere.

    .venv-delphi/bin/python benchmarks/delphi_prompts.py IN.json OUT.json
"""

from __future__ import annotations

import importlib.util
import json
import sys
import types
from importlib.metadata import version
from pathlib import Path
from typing import Any


def _register_clients_package() -> None:
    spec = importlib.util.find_spec("delphi")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("delphi is not installed in this environment")
    package = types.ModuleType("delphi.clients")
    package.__path__ = [str(Path(spec.submodule_search_locations[0]) / "clients")]
    sys.modules["delphi.clients"] = package


_register_clients_package()

import torch  # noqa: E402
from delphi.clients.client import Client  # noqa: E402
from delphi.config import ConstructorConfig, RunConfig, SamplerConfig  # noqa: E402
from delphi.explainers import DefaultExplainer  # noqa: E402
from delphi.latents.latents import (  # noqa: E402
    ActivatingExample,
    Latent,
    LatentRecord,
    NonActivatingExample,
)
from delphi.latents.samplers import normalize_activations  # noqa: E402
from delphi.scorers import DetectionScorer, FuzzingScorer  # noqa: E402


class NoGeneration(Client):  # type: ignore[misc]
    """Test double for delphi's LLM client: building prompts needs none, so it refuses."""

    async def generate(self, prompt: Any, **kwargs: Any) -> Any:
        raise RuntimeError("delphi_prompts builds prompts only; nothing is generated")


def _activating(ex: dict[str, Any]) -> ActivatingExample:
    acts = torch.tensor(ex["acts"], dtype=torch.float32)
    return ActivatingExample(
        tokens=torch.zeros(len(acts), dtype=torch.long),
        activations=acts,
        str_tokens=list(ex["tokens"]),
        quantile=int(ex.get("quantile", 0)),
    )


def _non_activating(ex: dict[str, Any]) -> NonActivatingExample:
    acts = torch.tensor(ex["acts"], dtype=torch.float32)
    return NonActivatingExample(
        tokens=torch.zeros(len(acts), dtype=torch.long),
        activations=acts,
        str_tokens=list(ex["tokens"]),
        distance=-1.0,
    )


def scorer_prompts(scorer: Any, record: LatentRecord) -> list[list[dict[str, str]]]:
    """The prompts ``Classifier.__call__`` sends for one record, without sending them."""
    samples = scorer._prepare(record)
    scorer.rng.shuffle(samples)
    return [scorer._build_prompt(record.explanation, batch) for batch in scorer._batch(samples)]


def main() -> None:
    src, dst = Path(sys.argv[1]), Path(sys.argv[2])
    spec = json.loads(src.read_text())
    # delphi's defaults, read from its config classes rather than copied.
    shown = RunConfig.__dataclass_fields__["num_examples_per_scorer_prompt"].default
    client = NoGeneration("none")
    explainer = DefaultExplainer(client, threshold=0.3, verbose=False)
    detection = DetectionScorer(client, n_examples_shown=shown, verbose=False, log_prob=False)
    fuzz = FuzzingScorer(
        client, n_examples_shown=shown, verbose=False, log_prob=False, fuzz_type="default"
    )
    out = []
    for item in spec["latents"]:
        train = [_activating(e) for e in item["train"]]
        test = [_activating(e) for e in item["test"]]
        normalize_activations(train, item["max_act"])
        normalize_activations(test, item["max_act"])
        record = LatentRecord(
            latent=Latent("hook", int(item["latent"])),
            examples=sorted(train + test, key=lambda e: -e.max_activation),
            train=train,
            test=test,
            not_active=[_non_activating(e) for e in item["not_active"]],
            explanation=item["explanation"],
        )
        out.append(
            {
                "latent": item["latent"],
                "explain": explainer._build_prompt(record.train),
                "detection": scorer_prompts(detection, record),
                "fuzz": scorer_prompts(fuzz, record),
            }
        )
    sampler, constructor = SamplerConfig(), ConstructorConfig()
    settings = {
        "delphi": version("eai-delphi"),
        "n_examples_train": sampler.n_examples_train,
        "n_examples_test": sampler.n_examples_test,
        "n_non_activating": constructor.n_non_activating,
        "example_ctx_len": constructor.example_ctx_len,
        "num_examples_per_scorer_prompt": shown,
        "explainer_activations": explainer.activations,
        "explainer_cot": explainer.cot,
    }
    dst.write_text(json.dumps({"settings": settings, "latents": out}))


if __name__ == "__main__":
    main()
