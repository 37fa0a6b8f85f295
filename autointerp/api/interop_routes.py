"""A finished run in another tool's layout (Neuronpedia, SAEBench, delphi), as a zip archive
of the files ``autointerp export`` writes (read-only: no token needed)."""

from __future__ import annotations

import io
import tempfile
import zipfile
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from autointerp.service.settings import results_root

__all__ = ["router"]

router = APIRouter(tags=["results"])


@router.get(
    "/runs/{run_id}/export",
    summary="A run's explanations and scores in Neuronpedia's, SAEBench's or delphi's layout",
    response_class=Response,
    responses={200: {"content": {"application/zip": {}}}},
)
def export_run_archive(
    request: Request,
    run_id: str,
    format: Annotated[str, Query(description="neuronpedia, saebench or delphi.")],
    model_id: Annotated[str | None, Query(description="Neuronpedia model id.")] = None,
    source_id: Annotated[str | None, Query(description="Neuronpedia source id.")] = None,
    hookpoint: Annotated[str | None, Query(description="delphi module name.")] = None,
    scorer: Annotated[str, Query(description="SAEBench: the scorer behind its score.")] = (
        "detection"
    ),
    sae_lens_release: Annotated[str | None, Query(description="SAEBench.")] = None,
    sae_lens_id: Annotated[str | None, Query(description="SAEBench.")] = None,
) -> Response:
    from autointerp.interop import Options, export_run

    options = Options(
        model_id=model_id,
        source_id=source_id,
        hookpoint=hookpoint,
        scorer=scorer,
        sae_lens_release=sae_lens_release,
        sae_lens_id=sae_lens_id,
    )
    buffer = io.BytesIO()
    with tempfile.TemporaryDirectory(prefix="autointerp-export-") as tmp:
        files = export_run(results_root(request.app.state.settings), run_id, format, tmp, options)
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for path in files:
                archive.write(path, Path(path).relative_to(tmp).as_posix())
    name = f"autointerp-{run_id}-{format}.zip"
    return Response(
        buffer.getvalue(),
        media_type="application/zip",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
