"""Files the API writes for a download: a private temporary folder, removed once sent."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path

from fastapi.responses import FileResponse
from starlette.background import BackgroundTask


def temporary_download(filename: str, write: Callable[[Path], object]) -> FileResponse:
    """Call `write(path)` on a fresh path named `filename`; the file is deleted after it is sent."""
    folder = Path(tempfile.mkdtemp(prefix="siyu-export-"))
    path = folder / filename
    write(path)

    def cleanup() -> None:
        path.unlink(missing_ok=True)
        folder.rmdir()

    return FileResponse(path, filename=filename, background=BackgroundTask(cleanup))
