"""A version's app as a zip archive."""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Mapping

from qai.web._render import safe_relative_path


def zip_files(files: Mapping[str, str | bytes]) -> bytes:
    """The files, deflated, under their relative paths; a path that would land outside the
    archive's folder when unpacked is left out."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(files):
            name = safe_relative_path(path)
            if name is not None:
                archive.writestr(name, files[path])
    return buffer.getvalue()


def archive_name(title: str) -> str:
    """``kanban-board.zip`` for the title "Kanban Board"; plain ASCII for any title."""
    slug = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")[:60].strip("-")
    return f"{slug or 'qai-app'}.zip"
