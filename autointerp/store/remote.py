"""Stores at fsspec URLs (``s3://bucket/prefix``, ``gs://...``, ``memory://...``): a results
root may be any URL fsspec understands, with that protocol's package installed (``s3fs``
for s3://: ``pip install 'autointerp[s3]'``). Local paths keep the plain ``pathlib`` code."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from autointerp.errors import StoreError

__all__ = ["filesystem", "is_url"]


def is_url(root: Path | str) -> bool:
    """True for ``protocol://...`` roots other than ``file://``."""
    text = str(root)
    return "://" in text and not text.startswith("file://")


def filesystem(root: Path | str, *, listings_cache: bool = True) -> tuple[Any, str]:
    """(fsspec filesystem, path inside it) of a URL root; ``listings_cache=False`` for one
    that never answers from a cached listing (files another machine wrote are seen)."""
    import fsspec

    options = {} if listings_cache else {"use_listings_cache": False}
    try:
        fs, path = fsspec.core.url_to_fs(str(root), **options)
    except (ImportError, ValueError) as exc:
        raise StoreError(
            f"cannot open the store {root}: {exc} (s3:// needs `pip install s3fs`)"
        ) from exc
    fs.invalidate_cache()  # listings cached by an earlier call may miss new files
    return fs, str(path).rstrip("/")
