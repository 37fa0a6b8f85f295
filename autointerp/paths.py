"""Where autointerp keeps files that outlive a run (converted models, ...).

``AUTOINTERP_CACHE_DIR`` overrides the location; otherwise ``$XDG_CACHE_HOME/autointerp`` or
``~/.cache/autointerp``.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["cache_dir", "package_data"]


def cache_dir(*parts: str) -> Path:
    """The user cache directory (created on demand), optionally a sub-path of it."""
    root = os.environ.get("AUTOINTERP_CACHE_DIR")
    if root:
        base = Path(root)
    else:
        xdg = os.environ.get("XDG_CACHE_HOME")
        base = (Path(xdg) if xdg else Path.home() / ".cache") / "autointerp"
    path = base.joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    return path


def package_data(*parts: str) -> Path:
    """A file shipped inside the autointerp package (e.g. the demo SAE)."""
    return Path(__file__).parent.joinpath("data", *parts)
