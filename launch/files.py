"""Files the commands write, whole or not at all: the bytes go to a temporary file beside the
target, which is then renamed over it (a kill or a full disk never leaves half a page, plot or
summary under the real name)."""

from __future__ import annotations

import io
import os
import tempfile
from pathlib import Path


def write_atomically(path, data: str | bytes) -> Path:
    """Write ``data`` (text as UTF-8) to ``path``; its folder is created. The file gets the
    permissions of an ordinary new file (mkstemp's would be 0600)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    raw = data.encode("utf-8") if isinstance(data, str) else data
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(raw)
        mask = os.umask(0)
        os.umask(mask)
        os.chmod(tmp, 0o666 & ~mask)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def save_figure(fig, path, dpi: int = 110) -> Path:
    """A matplotlib figure at ``path`` (the format from its suffix, PNG without one), written
    atomically; the figure is closed."""
    from matplotlib import pyplot as plt

    buffer = io.BytesIO()
    try:
        fig.savefig(buffer, format=Path(path).suffix.lstrip(".").lower() or "png", dpi=dpi)
    finally:
        plt.close(fig)
    return write_atomically(path, buffer.getvalue())
