"""Where a run writes, checked before it starts, and how it writes (the one home of the atomic write).

`OutputPlan` takes every output of a command (dsl-infer, dsl-eval, dsl-bench, dsl-export) and its inputs, and
refuses, before anything is read or created: an output that is an input (the same file by device and inode,
so a hard link or a symlink to the source counts), two outputs that are the same file, and an output that
cannot be written. Writers never truncate a file in place: a regular file is replaced by a new one (a new
inode, renamed over the name), so other names of the old file keep their content. `write_atomic` writes a
whole file (readers see the old one or the new one, never half); `LineFile` writes lines, each whole or not
at all, and creates its file only with the first line. New files follow the umask; a replaced file keeps
its permission bits. Devices and pipes (/dev/null, /dev/stdout on a pipe) are written in place.
"""
from __future__ import annotations

import contextlib
import errno
import fnmatch
import os
import stat
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Iterable, Iterator

from ..errors import InputError, printable

UNSET = ("", "-", "none")  # values of an output option that write no file


def _read_umask() -> int:
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)  # the portable way: set and restore (at import, before any thread writes)
    os.umask(mask)
    return mask


UMASK = _read_umask()


def identity(path: str | Path) -> tuple[int, int] | None:
    """(device, inode) of the file `path` names (symlinks followed), or None when it does not exist."""
    try:
        st = os.stat(path)
    except (OSError, ValueError):
        return None
    return (st.st_dev, st.st_ino)


def real_target(path: str | Path) -> Path:
    """The path a write must replace: symlinks resolved, so the link's target is written, not the link."""
    return Path(os.path.realpath(path))


def is_special(path: str | Path) -> bool:
    """True for an existing device, pipe or socket (written in place, never replaced)."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return False
    return not stat.S_ISREG(mode) and not stat.S_ISDIR(mode)


@dataclass(frozen=True)
class _Output:
    option: str
    path: Path
    folder: bool
    writes: tuple[str, ...]  # a folder output: the patterns of the file names it writes inside

    def writes_name(self, name: str) -> bool:
        """Whether this folder output writes a file called `name`."""
        return any(fnmatch.fnmatch(name, pattern) for pattern in self.writes)

    @property
    def patterns(self) -> str:
        """The names it writes, for messages."""
        return ", ".join(self.writes)


class OutputPlan:
    """The outputs of one run and the inputs they must spare; `check()` before anything starts."""

    def __init__(self, inputs: Iterable[tuple[str, str | Path | None]] = ()):
        self.inputs = [(label, Path(p)) for label, p in inputs if p is not None and str(p) not in UNSET]
        self.outputs: list[_Output] = []

    def file(self, option: str, path: str | Path | None) -> "OutputPlan":
        """A file the run will write (None, '', '-' and 'none' write none)."""
        if path is not None and str(path) not in UNSET:
            self.outputs.append(_Output(option, Path(path), False, ()))
        return self

    def folder(self, option: str, path: str | Path | None, writes: str | tuple[str, ...] = "*") -> "OutputPlan":
        """A folder the run will create if needed and write files matching `writes` (glob patterns) into."""
        if path is not None and str(path) not in UNSET:
            patterns = (writes,) if isinstance(writes, str) else tuple(writes)
            self.outputs.append(_Output(option, Path(path), True, patterns))
        return self

    def check(self) -> None:
        """InputError on the first output that would destroy an input, collide with another output, or fail."""
        for out in self.outputs:
            self._check_inputs(out)
        for i, a in enumerate(self.outputs):
            for b in self.outputs[i + 1:]:
                if _same(a, b):
                    raise InputError(f"{b.option} {printable(b.path)}: is also the output of {a.option} "
                                     f"{printable(a.path)}; one would replace the other: give each output its own "
                                     "name")
                for f, d in ((a, b), (b, a)):
                    if not f.folder and d.folder and _inside(f, d):
                        raise InputError(f"{f.option} {printable(f.path)}: is a file that {d.option} "
                                         f"{printable(d.path)} writes ({d.patterns}); give it another name")
        for out in self.outputs:
            check_writable(out.path, option=out.option, folder=out.folder)

    def _check_inputs(self, out: _Output) -> None:
        target = identity(out.path)
        resolved = out.path.resolve()
        for label, inp in self.inputs:
            what = "folder" if inp.is_dir() else "file"
            if resolved == inp.resolve():
                raise InputError(f"{out.option} {printable(out.path)}: is the {label} {what}; writing there would "
                                 "destroy it")
            if target is not None and target == identity(inp):
                raise InputError(f"{out.option} {printable(out.path)}: is the {label} {what} under another name (a "
                                 "hard link or a symbolic link: the same device and inode); writing there would "
                                 "destroy it")
            if out.folder and inp.is_file() and inp.resolve().parent == resolved and out.writes_name(inp.name):
                raise InputError(f"{out.option} {printable(out.path)}: holds the {label} file {printable(inp.name)}, "
                                 f"which the run would overwrite ({out.patterns}); write into another folder")


def _same(a: _Output, b: _Output) -> bool:
    ida = identity(a.path)
    return a.path.resolve() == b.path.resolve() or (ida is not None and ida == identity(b.path))


def _inside(f: _Output, d: _Output) -> bool:
    return f.path.resolve().parent == d.path.resolve() and d.writes_name(f.path.name)


def check_writable(path: str | Path, *, option: str = "", folder: bool = False) -> Path:
    """Fail now, naming `path`, when it cannot be written (rather than after the whole run); creates nothing."""
    path = Path(path)
    name = f"{option} {printable(path)}" if option else printable(path)
    if folder:
        if path.exists() and not path.is_dir():
            raise InputError(f"{name}: exists and is not a folder")
        probe_dir = path
        while not probe_dir.exists():  # the nearest folder that exists is where the new ones will be made
            if probe_dir.parent == probe_dir:
                break
            probe_dir = probe_dir.parent
        if not probe_dir.is_dir():
            raise InputError(f"{name}: cannot create the folder: {printable(probe_dir)} is not a folder")
    else:
        if path.is_dir():
            raise InputError(f"{name}: is a folder; give a file name")
        if is_special(path):
            if not os.access(path, os.W_OK):
                raise InputError(f"{name}: cannot be written (permission denied)")
            return path
        target = real_target(path)
        probe_dir = target.parent
        if not probe_dir.is_dir():
            raise InputError(f"{name}: the folder {printable(probe_dir)} does not exist")
        if target.exists() and not os.access(target, os.W_OK):
            raise InputError(f"{name}: the file is read-only; remove it or give another name")
    try:
        fd, probe = tempfile.mkstemp(prefix=".dsl-probe.", dir=probe_dir)
    except OSError as exc:
        raise InputError(f"{name}: cannot write in {printable(probe_dir)} ({exc.strerror or exc})") from None
    os.close(fd)
    os.unlink(probe)
    return path


def _new_file_mode(target: Path) -> int:
    """The permission bits of the replaced file, or what the umask gives a new one."""
    try:
        return stat.S_IMODE(os.stat(target).st_mode)
    except OSError:
        return 0o666 & ~UMASK


def _temp_beside(target: Path, suffix: str = ".tmp") -> tuple[int, str]:
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=suffix, dir=target.parent)
    os.fchmod(fd, _new_file_mode(target))
    return fd, tmp


@contextlib.contextmanager
def atomic_file(path: str | Path, *, durable: bool = True) -> Iterator[BinaryIO]:
    """A binary file whose content becomes the whole of `path` on a clean exit (a new file renamed into place);
    on an error nothing changes. Devices and pipes are written in place."""
    if is_special(path):
        with open(path, "wb") as f:
            yield f
        return
    target = real_target(path)
    fd, tmp = _temp_beside(target)
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            if durable:
                os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException:
        _unlink_quietly(tmp)
        raise


def publish(tmp: str | Path, path: str | Path) -> Path:
    """Rename a finished file (written by a library by name, in the same file system) over `path`, with the mode
    of the file it replaces or the umask's."""
    target = real_target(path)
    os.chmod(tmp, _new_file_mode(target))
    os.replace(tmp, target)
    return Path(path)


def write_atomic(path: str | Path, data: bytes | bytearray | memoryview, *, durable: bool = True) -> Path:
    """Write `data` as the whole content of `path`: a new file renamed into place (readers never see half)."""
    with atomic_file(path, durable=durable) as f:
        f.write(data)
    return Path(path)


def temporary_beside(path: str | Path, suffix: str = "") -> tuple[Path, Path]:
    """(temporary path, final path) for a file another library writes by name (a video): rename it when done."""
    target = real_target(path)
    fd, tmp = _temp_beside(target, suffix or target.suffix)
    os.close(fd)
    return Path(tmp), target


def _unlink_quietly(path: str | Path) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


class LineFile:
    """Lines appended to a file: the file appears with the first line, each line is written whole or not at all.

    The file is new (renamed over any old one at the first line), so an output that was a hard link to
    something else leaves that content alone. On an error (a full disk) the partial line is cut off again.
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._fd: int | None = None
        self._special = False
        self.lines = 0

    def _open(self) -> int:
        if is_special(self.path):
            self._special = True
            return os.open(self.path, os.O_WRONLY | os.O_APPEND)
        target = real_target(self.path)
        fd, tmp = _temp_beside(target, ".part")
        try:
            os.replace(tmp, target)
        except BaseException:
            os.close(fd)
            _unlink_quietly(tmp)
            raise
        return fd

    def write_line(self, line: bytes) -> None:
        """Append one line (bytes ending in a newline) and flush it to the kernel; OSError leaves no half line."""
        if self._fd is None:
            self._fd = self._open()
        fd = self._fd
        start = None if self._special else os.lseek(fd, 0, os.SEEK_CUR)
        view = memoryview(line)
        try:
            while view:
                n = os.write(fd, view)
                if n <= 0:
                    raise OSError(errno.EIO, "short write")
                view = view[n:]
        except OSError:
            if start is not None:
                try:
                    os.ftruncate(fd, start)
                    os.lseek(fd, start, os.SEEK_SET)
                except OSError:
                    pass
            raise
        self.lines += 1

    def close(self, *, create: bool = True) -> None:
        """Sync and close; with `create`, a run that wrote no line still leaves an empty file."""
        fd, self._fd = self._fd, None
        if fd is None:
            if create:
                write_atomic(self.path, b"")
            return
        try:
            if not self._special:
                os.fsync(fd)
        except OSError:
            pass
        finally:
            os.close(fd)
