"""Files written so that nothing is lost: a temporary file next to the target, flushed to disk and
renamed over it, so a reader (or a run killed mid-write) sees the old file or the new one, never a
part. Checkpoints, histories, pictures, weights and ONNX exports all go through atomic_write."""
import os
import tempfile


def temporary_prefix(path):
    """The name prefix of the temporary files atomic_write makes for ``path``."""
    return ".tmp-" + os.path.basename(os.fspath(path)) + "-"


def atomic_write(path, write):
    """Writes through ``write(file)`` to a temporary file next to ``path``, flushes it to disk, then
    renames it over ``path``: a reader sees the old file or the new one, never a part."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=temporary_prefix(path), dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    _fsync_folder(folder)


def _fsync_folder(folder):
    """Makes the rename itself durable (a power cut after it keeps the new file); not on Windows."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
