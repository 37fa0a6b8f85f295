"""Checkpoint formats behind a registry: each format knows how to recognise a path by what it
holds (file names, and the tensor names and shapes read from the weight files' headers, see
:mod:`autointerp.saes.probe`) and how to load it into a :class:`SparseCoder`. ``sae_format``
(``--sae-format``) skips detection and forces one format.

A checkpoint spec is one of:

* ``demo`` -- the demo SAE shipped with autointerp;
* a local path (a folder, or a file such as ``params.npz`` / ``ae.pt`` / ``model.pt``);
* a hub id ``org/repo/path/inside/repo`` -- downloaded with huggingface_hub when online;
* ``random:SPEC[:seed=N]`` -- a random-weights SAE of the same shape as SPEC (a baseline);
* ``neurons:HOOK[:k=K]`` -- the model's raw units at HOOK (e.g. ``blocks.6.mlp.hook_post``),
  optionally top-k sparsified (a baseline; needs the subject model, see ``baselines``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

from autointerp.errors import CheckpointError, ConfigError
from autointerp.paths import package_data
from autointerp.registry import Registry
from autointerp.saes.base import SparseCoder
from autointerp.saes.probe import Probe

__all__ = [
    "FORMATS",
    "CheckpointFormat",
    "file_sha256",
    "load_sae",
    "load_saes",
    "read_mapping",
    "resolve_checkpoint",
]

DEMO_NAME = "demo"


@dataclass(frozen=True)
class CheckpointFormat:
    name: str
    detect: Callable[[Probe], bool]
    """True when the probed path holds this format (file names, tensor names and shapes;
    headers only)."""
    by_name: Callable[[Path], bool]
    """True when the file names alone look like this format: the fallback when no format
    recognises the content (a damaged file then gets the loader's own error)."""
    load: Callable[[Path], SparseCoder]
    """Load and validate; raise CheckpointError naming the file and the problem."""
    expects: str
    """What files and tensors this format expects (for error messages and the README)."""
    example: str = ""
    split: Callable[[Path], list[Path]] | None = None
    """The checkpoints a path of this format holds when it may hold several (a sparsify run
    folder: one per hook point), for :func:`load_saes`; None: a path is one checkpoint."""


FORMATS: Registry[CheckpointFormat] = Registry("checkpoint format")


def resolve_checkpoint(spec: str | Path) -> Path:
    """``demo`` -> the demo SAE; a local path -> itself; ``org/repo/sub/path`` -> downloaded
    from the Hugging Face Hub (when online)."""
    if str(spec) == DEMO_NAME:
        return package_data("demo_sae")
    resolved = Path(spec).expanduser()
    if resolved.exists():
        return resolved
    from autointerp.saes.hub import looks_like_hub_id, resolve_hub_checkpoint

    if looks_like_hub_id(str(spec)):
        return resolve_hub_checkpoint(str(spec))
    raise CheckpointError(f"SAE checkpoint {str(spec)!r} does not exist")


def detect_format(path: Path, sae_format: str | None = None) -> CheckpointFormat:
    """The format ``sae_format`` names, else the one whose content ``path`` holds, else (for
    a damaged or partial checkpoint) the first whose file names it has."""
    if sae_format:
        return FORMATS.get(sae_format)
    probe = Probe(path)
    formats = [FORMATS.get(name) for name in FORMATS]
    matches = [fmt for fmt in formats if fmt.detect(probe)]
    if len(matches) > 1:
        names = ", ".join(m.name for m in matches)
        raise CheckpointError(
            f"{path} could be any of these checkpoint formats: {names}; pass --sae-format NAME "
            f"(config field sae_format) to choose one. Found {probe.describe()}"
        )
    if matches:
        return matches[0]
    named = [fmt for fmt in formats if fmt.by_name(path)]
    if named:
        return _named_only(named[0], probe)
    expected = "\n".join(f"  {fmt.name}: {fmt.expects}" for fmt in formats)
    raise CheckpointError(
        f"{path} is not a checkpoint autointerp recognises. Found {probe.describe()}.\n"
        f"Expected one of (or force one with --sae-format NAME):\n{expected}"
    )


def _named_only(fmt: CheckpointFormat, probe: Probe) -> CheckpointFormat:
    """``fmt`` recognised by file names only: a loading error also says what was found."""

    def load(path: Path) -> SparseCoder:
        try:
            return fmt.load(path)
        except CheckpointError as exc:
            raise CheckpointError(
                f"{exc}\n(taken for {fmt.name} by its file names; its content "
                f"matches no format: {probe.describe()}. {fmt.name} expects {fmt.expects})"
            ) from None

    return replace(fmt, load=load)


def load_sae(
    spec: str | Path,
    *,
    hook: str | None = None,
    hook_out: str | None = None,
    sae_format: str | None = None,
    subject: Any = None,
) -> SparseCoder:
    """Load the checkpoint ``spec`` (see the module docstring) on CPU in float32.

    ``hook`` overrides the hook point the checkpoint names (needed for formats that store
    none, such as a bare Gemma Scope ``params.npz``); ``hook_out`` a transcoder's output hook
    point (needed by steering and the intervention scorer when the checkpoint names none).
    ``sae_format`` forces a registered format instead of detecting one. ``subject`` (a
    loaded SubjectModel) is needed only for ``neurons:`` baselines, whose width comes from
    the model."""
    from autointerp.saes import baselines

    text = str(spec)
    if text.startswith(baselines.NEURONS):
        sae = baselines.neuron_basis(text, subject)
    elif text.startswith(baselines.RANDOM):
        inner, seed = baselines.parse_random(text)
        inner_sae = load_sae(inner, hook=hook, sae_format=sae_format, subject=subject)
        sae = baselines.randomize(inner_sae, seed, spec=text)
    else:
        path = resolve_checkpoint(spec)
        sae = detect_format(path, sae_format).load(path)
    if hook and hook != sae.info.hook_name:
        sae.info = replace(sae.info, hook_name=hook)
    if hook_out and hook_out != sae.info.hook_name_out:
        if not sae.info.transcoder:
            raise ConfigError(
                f"hook_out={hook_out!r} applies to transcoders only; {sae.info.path} is a "
                "sparse autoencoder (it writes where it reads)"
            )
        sae.info = replace(sae.info, hook_name_out=hook_out)
    if not sae.info.hook_name:
        raise CheckpointError(
            f"{sae.info.path} does not say which hook point it reads; pass --hook "
            "(e.g. blocks.12.hook_resid_post)"
        )
    return sae


def load_saes(
    spec: str | Path, *, subject: Any = None, sae_format: str | None = None
) -> list[SparseCoder]:
    """Every checkpoint under ``spec``: a path of a format that splits (a sparsify run folder)
    gives one per part, e.g. per hook point (to be cached together in one forward pass);
    anything else gives ``[load_sae(spec)]``."""
    text = str(spec)
    if not text.startswith(("neurons:", "random:")):
        path = resolve_checkpoint(spec)
        fmt = detect_format(path, sae_format)
        if fmt.split is not None:
            return [load_sae(part, sae_format=fmt.name) for part in fmt.split(path)]
    return [load_sae(spec, subject=subject, sae_format=sae_format)]


def read_mapping(
    path: Path, *, syntax: Literal["JSON", "YAML"] = "JSON", needed_for: str = ""
) -> dict[str, Any]:
    """A JSON (or YAML: ``yaml.safe_load``, plain values only) file that must hold a mapping;
    CheckpointError naming the file when it is missing (``needed_for``: why it is needed),
    not valid or not a mapping."""
    if syntax == "YAML":
        import yaml

        parse: Callable[[str], Any] = yaml.safe_load
        invalid: tuple[type[Exception], ...] = (yaml.YAMLError, UnicodeDecodeError)
        mapping = "a YAML mapping"
    else:
        parse, mapping = json.loads, "a JSON object"
        invalid = (json.JSONDecodeError, UnicodeDecodeError)
    try:
        data = parse(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        why = f" ({needed_for})" if needed_for else ""
        raise CheckpointError(f"{path} is missing{why}") from None
    except invalid as exc:
        raise CheckpointError(f"{path} is not valid {syntax}: {exc}") from None
    if not isinstance(data, dict):
        raise CheckpointError(f"{path} must hold {mapping}, not {type(data).__name__}")
    return data


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def positive_int(cfg: dict[str, Any], key: str, where: Path) -> int:
    value = cfg.get(key)
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise CheckpointError(f"{where}: {key!r} must be a positive integer, got {value!r}")
    return value
