"""Checkpoints on the Hugging Face Hub: ``org/repo/path/inside/repo`` downloads that folder
(or file) with huggingface_hub when online. Offline (``HF_HUB_OFFLINE=1`` or no network) the
error says so and how to fix it; a copy already in the local HF cache is used."""

from __future__ import annotations

import os
import re
from pathlib import Path

from autointerp.errors import CheckpointError

__all__ = ["looks_like_hub_id", "resolve_hub_checkpoint"]

_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+(/[\w./-]+)?$")


def looks_like_hub_id(spec: str) -> bool:
    return bool(_HUB_ID.match(spec)) and not spec.startswith((".", "/", "~"))


def resolve_hub_checkpoint(spec: str) -> Path:
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError

    org, repo, *rest = spec.split("/")
    sub = "/".join(rest)
    offline = os.environ.get("HF_HUB_OFFLINE", "0") not in ("0", "", "false", "False")
    patterns = [f"{sub}/*", sub] if sub else None
    try:
        root = snapshot_download(f"{org}/{repo}", allow_patterns=patterns, local_files_only=offline)
    except LocalEntryNotFoundError:
        raise CheckpointError(
            f"SAE checkpoint {spec!r} is neither a local path nor in the local Hugging Face cache, "
            "and the hub cannot be reached (offline: HF_HUB_OFFLINE is set or there is no "
            "network). Download it first, or pass a local path."
        ) from None
    except (HfHubHTTPError, OSError, ValueError) as exc:
        raise CheckpointError(f"SAE checkpoint {spec!r}: hub download failed: {exc}") from None
    path = Path(root) / sub
    if not path.exists():
        raise CheckpointError(f"SAE checkpoint {spec!r}: {sub!r} is not in {org}/{repo}")
    return path
