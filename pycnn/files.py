"""Files written so that nothing is lost, and read so that nothing is half-loaded.

Writing: a temporary file next to the target, flushed to disk and renamed over it, so a reader (or a
run killed mid-write) sees the old file or the new one, never a part. The file gets the permissions
``open(path, "w")`` would give it: those of the file it replaces, else 0666 less the umask (as torch.save
and numpy do). A missing folder is an error (FileNotFoundError), never created behind the caller's back.
Checkpoints, histories, pictures, weights and ONNX exports all go through atomic_write.

Arrays: state dicts and checkpoints are ``.npz`` archives (numpy's zip of ``.npy`` members) that numpy
reads as is, written and read with ``allow_pickle=False``: no object arrays, no pickle, ever. The zip
archive comment names the kind and format version (``pycnn state-dict 1``), so a file from a newer
pycnn, a file of another kind, and a damaged file (zip CRC, truncation) are refused with a message that
names the file and what was expected. Every array is read into memory before anything is returned.
"""
import errno
import os
import tempfile
import zipfile
from collections import OrderedDict

import numpy as np

# The format version of each kind of .npz file this pycnn writes, and the newest it reads.
FORMAT_VERSIONS = {"state-dict": 1, "checkpoint": 1}


def temporary_prefix(path):
    """The name prefix of the temporary files atomic_write makes for ``path``."""
    return ".tmp-" + os.path.basename(os.fspath(path)) + "-"


def require_folder(path, who):
    """Raises FileNotFoundError when the folder that would hold ``path`` does not exist."""
    folder = os.path.dirname(os.path.abspath(os.fspath(path)))
    if not os.path.isdir(folder):
        raise FileNotFoundError(errno.ENOENT, f"{who}: cannot write {os.fspath(path)!r}: the folder "
                                f"{folder!r} does not exist")
    return folder


def _umask():
    """The process umask, read without changing it where the system tells (Linux); else set and reset."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def atomic_write(path, write, who="write"):
    """Writes through ``write(file)`` to a temporary file next to ``path``, flushes it to disk, then
    renames it over ``path``: a reader sees the old file or the new one, never a part."""
    path = os.fspath(path)
    folder = require_folder(path, who)
    try:
        mode = os.stat(path).st_mode & 0o7777  # replacing a file keeps its permissions, as open() does
    except OSError:
        mode = 0o666 & ~_umask()
    fd, tmp = tempfile.mkstemp(prefix=temporary_prefix(path), dir=folder)
    try:
        os.fchmod(fd, mode)
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


# ----- .npz archives ------------------------------------------------------------------------------
def _comment(kind, count):
    """The archive comment: kind, format version and the number of arrays (a damaged zip directory can
    hide members from the reader; the count exposes it)."""
    return f"pycnn {kind} {FORMAT_VERSIONS[kind]} arrays={count}".encode()


def write_npz(path, arrays, kind, who):
    """Writes ``arrays`` (name -> numpy array) as an .npz that ``np.load`` reads, atomically, tagged
    with ``kind``'s format version. Object arrays are refused (they would need pickle)."""
    checked = {}
    for name, value in arrays.items():
        if not isinstance(name, str):
            raise TypeError(f"{who}: expected string keys, got {type(name).__name__} {name!r}")
        array = np.asarray(value)
        if array.dtype.kind not in "biufcU":
            raise TypeError(f"{who}: {name!r} has dtype {array.dtype}; only numeric (and string) arrays are "
                            "saved, never objects (they would need pickle)")
        checked[name] = array

    def write(f):
        with zipfile.ZipFile(f, "w", zipfile.ZIP_STORED, allowZip64=True) as archive:
            for name, array in checked.items():
                with archive.open(name + ".npy", "w", force_zip64=True) as member:
                    np.lib.format.write_array(member, array, allow_pickle=False)
            archive.comment = _comment(kind, len(checked))
    atomic_write(path, write, who)


def _check_tag(path, comment, kind, who):
    """Refuses a file whose archive comment names another kind or a newer format version. Returns the
    number of arrays the tag promises, or None for an untagged file (a plain np.savez)."""
    words = comment.decode("ascii", "replace").split()
    if not words or words[0] != "pycnn":
        return None
    if (len(words) != 4 or words[1] not in FORMAT_VERSIONS or not words[2].isdigit()
            or not words[3].startswith("arrays=") or not words[3][7:].isdigit()):
        raise ValueError(f"{who}: {path!r} has an unreadable pycnn format tag {comment!r}; expected "
                         f"{_comment(kind, 'N')!r} (the file is damaged or not one pycnn wrote)")
    if words[1] != kind:
        raise ValueError(f"{who}: {path!r} is a pycnn {words[1]} file, expected a pycnn {kind} file")
    version = int(words[2])
    if version > FORMAT_VERSIONS[kind]:
        raise ValueError(f"{who}: {path!r} is a pycnn {kind} file of format version {version}, written by a "
                         f"newer pycnn; this pycnn reads versions up to {FORMAT_VERSIONS[kind]}: upgrade pycnn")
    return int(words[3][7:])


def read_npz(path, kind, who):
    """Every array of the .npz at ``path``, read into memory (an OrderedDict in file order). Raises
    FileNotFoundError for a missing file and ValueError naming the file for one that is damaged,
    truncated, of another kind, of a newer format version, or holds object arrays (which would need
    pickle)."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(errno.ENOENT, f"{who}: no {kind} at {path!r}")
    expected = f"expected a pycnn {kind} .npz (numpy arrays, format version <= {FORMAT_VERSIONS[kind]})"
    try:
        with zipfile.ZipFile(path) as archive:
            comment = archive.comment
            names = archive.namelist()
    except Exception as error:  # zipfile raises many kinds on a damaged directory
        raise ValueError(f"{who}: {path!r} is not a readable pycnn {kind} ({error}): it is truncated, damaged "
                         f"or of another format; {expected}") from None
    count = _check_tag(path, comment, kind, who)
    if count is not None and count != len(names):
        raise ValueError(f"{who}: {path!r} is not a readable pycnn {kind}: its tag promises {count} arrays, its "
                         f"directory lists {len(names)} (the file is damaged); {expected}")
    if any(not name.endswith(".npy") for name in names):
        raise ValueError(f"{who}: {path!r} holds members that are not .npy arrays "
                         f"({[n for n in names if not n.endswith('.npy')][:3]}); {expected}")
    arrays = OrderedDict()
    try:
        with np.load(path, allow_pickle=False) as data:
            for name in data.files:
                arrays[name] = data[name]
    except Exception as error:  # zipfile and numpy raise many kinds on a damaged member
        text = str(error).splitlines()[0] if str(error) else type(error).__name__
        if "allow_pickle" in text:
            text = "it holds an object array, which would need pickle"
        raise ValueError(f"{who}: {path!r} is not a readable pycnn {kind} ({text}); {expected}") from None
    return arrays


def save(obj, f):
    """Saves a state dict (name -> numpy array or pycnn Tensor, as ``Module.state_dict()`` or an
    optimizer's flat arrays) to the path ``f`` as an .npz, atomically, tagged with the format version.
    PyTorch's ``torch.save`` for the one kind of object pycnn saves; ``np.load`` reads the file too."""
    from .tensor import Tensor

    if not hasattr(obj, "items"):
        raise TypeError(f"save: expected a state dict (a mapping of names to arrays), got {type(obj).__name__}")
    arrays = OrderedDict((k, v.numpy() if isinstance(v, Tensor) else v) for k, v in obj.items())
    write_npz(f, arrays, "state-dict", "save")


def load(f):
    """The state dict saved at path ``f`` (by :func:`save`, or any ``np.savez`` of numeric arrays) as an
    OrderedDict of numpy arrays, for ``Module.load_state_dict``. Never unpickles: a file holding object
    arrays, a damaged or truncated file, or one from a newer pycnn raises ValueError naming it."""
    return read_npz(f, "state-dict", "load")
