"""Hub ids (``org/repo/path/inside/repo``) offline: a copy in the local Hugging Face cache is
used; anything else fails with an error that says the hub is offline and what to do."""

from __future__ import annotations

from pathlib import Path

import pytest

from autointerp.errors import CheckpointError
from autointerp.saes import load_sae
from autointerp.saes.hub import looks_like_hub_id
from tests.helpers import write_saelens


@pytest.fixture(autouse=True)
def offline(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Offline, with an empty HF cache of our own (nothing the machine has cached leaks in)."""
    import huggingface_hub.constants

    cache = tmp_path / "hf-cache"
    cache.mkdir()
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(cache))
    return cache


@pytest.mark.parametrize(
    ("spec", "hub"),
    [
        ("some-org/some-repo/layer_3", True),
        ("google/gemma-scope-2b-pt-res/layer_12/width_16k/average_l0_82", True),
        ("some-org/some-repo", True),
        ("/abs/path/to/sae", False),
        ("./relative/sae", False),
        ("~/sae", False),
        ("demo", False),
        ("org/repo with space", False),
    ],
)
def test_looks_like_hub_id(spec: str, hub: bool) -> None:
    assert looks_like_hub_id(spec) is hub


@pytest.mark.parametrize("spec", ["some-org/some-repo/layer_3", "some-org/some-repo"])
def test_hub_id_offline_says_so(spec: str) -> None:
    with pytest.raises(CheckpointError) as info:
        load_sae(spec)
    msg = str(info.value)
    assert spec in msg
    assert "offline" in msg and "HF_HUB_OFFLINE" in msg
    assert "Download it first" in msg


def test_missing_local_path_says_does_not_exist(tmp_path: Path) -> None:
    for spec in (tmp_path / "nope", "./no/such/sae"):
        with pytest.raises(CheckpointError, match="does not exist") as info:
            load_sae(spec)
        assert "offline" not in str(info.value)


def _cache_repo(cache: Path, repo: str, commit: str = "0123abcd") -> Path:
    """The layout huggingface_hub's cache uses: refs/main -> snapshots/<commit>/..."""
    storage = cache / f"models--{repo.replace('/', '--')}"
    (storage / "refs").mkdir(parents=True)
    (storage / "refs" / "main").write_text(commit)
    return storage / "snapshots" / commit


def test_hub_id_in_the_local_cache_loads_offline(offline: Path) -> None:
    snapshot = _cache_repo(offline, "some-org/cached-repo")
    write_saelens(snapshot / "layer_3", d_in=16, d_sae=32, hook_name="blocks.3.hook_resid_post")
    sae = load_sae("some-org/cached-repo/layer_3")
    assert sae.info.format == "saelens"
    assert sae.info.hook_name == "blocks.3.hook_resid_post"
    assert Path(sae.info.path) == snapshot / "layer_3"


def test_cached_repo_without_the_sub_path(offline: Path) -> None:
    snapshot = _cache_repo(offline, "some-org/cached-repo")
    write_saelens(snapshot / "layer_3", d_in=16, d_sae=32)
    with pytest.raises(CheckpointError, match="'layer_9' is not in some-org/cached-repo"):
        load_sae("some-org/cached-repo/layer_9")
