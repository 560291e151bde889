"""Files the API writes for a download: a private temporary folder, removed once sent."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path

from fastapi.responses import FileResponse
from starlette.background import BackgroundTask

from siyu.platform.limits import EXPORTS


def temporary_download(filename: str, write: Callable[[Path], object]) -> FileResponse:
    """Call `write(path)` on a fresh path named `filename`; the file is deleted after it is sent.

    At most two files are written at once per process (`EXPORTS`); a third caller gets 503 with
    Retry-After at once instead of holding a worker thread and a database connection in a queue.
    """
    with EXPORTS.slot():
        folder = Path(tempfile.mkdtemp(prefix="siyu-export-"))
        path = folder / filename
        try:
            write(path)
        except BaseException:
            path.unlink(missing_ok=True)
            folder.rmdir()
            raise

    def cleanup() -> None:
        path.unlink(missing_ok=True)
        folder.rmdir()

    # Downloads carry personal data: never kept by a browser or a proxy.
    return FileResponse(
        path, filename=filename, background=BackgroundTask(cleanup), headers={"Cache-Control": "no-store"}
    )
