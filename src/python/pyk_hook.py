"""pyk: import libraries published to a pyk repository.

    from pyk import foo          # the library package `foo`
    from pyk.foo import bar      # a name or submodule inside it
    python -m pyk.foo            # run its main block

Written by `pyk python-setup`; it needs nothing but the standard library (Python 3.9+).
Each first import of a library in a process asks the `pyk` binary for the current
version (the same update check, cache and offline fallback as `pyk foo`), which unpacks
the library's app and dependency layers into the cache and prints their directories.
They go first on sys.path, and this process holds a shared lock on each for its lifetime
so `pyk cache prune` leaves them alone.

The check runs once per library per process: in a Jupyter kernel, once per kernel
session. Re-running a cell, `importlib.reload`, IPython's autoreload or a reload of this
module reuse the version the session started with; restart the kernel for a newer one.
"""

import fcntl
import importlib.abc
import importlib.util
import os
import subprocess
import sys

# The pyk binary that wrote this file; PYK_BIN overrides it.
PYK_BIN = os.environ.get("PYK_BIN") or __PYK_BIN__

# Lock files held while this process may import from the entries they guard, and the
# directories each library resolved to. Module globals survive `importlib.reload(pyk)`,
# which re-runs this file in the same namespace: the session keeps what it resolved.
_held = globals().get("_held", [])
_resolved = globals().get("_resolved", {})


def _resolve(name):
    """The unpacked directories (app first) of the current version of library `name`,
    held by this process. `pyk resolve --hold` keeps its own locks on them until its stdin
    closes, and this process takes its locks before closing it: no prune can remove an
    entry between the two."""
    version = "%d.%d" % sys.version_info[:2]
    try:
        proc = subprocess.Popen(
            [PYK_BIN, "resolve", "lib", name, "--python", version, "--hold"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            universal_newlines=True,
        )
    except OSError as e:
        raise ImportError("cannot run pyk (%s): %s" % (PYK_BIN, e), name="pyk." + name)
    dirs, complete = [], False
    with proc:
        for line in proc.stdout:
            line = line.rstrip("\n")
            if not line:
                complete = True
                break
            dirs.append(line)
        held = complete and _hold(dirs)
        proc.stdin.close()
        err = proc.stderr.read()
    for line in err.splitlines():
        if "warning:" in line:
            sys.stderr.write(line + "\n")
    if proc.returncode != 0 or not complete:
        why = err.strip().splitlines()
        msg = why[-1] if why else "pyk resolve failed"
        if msg.startswith("pyk: error: "):
            msg = msg[len("pyk: error: "):]
        raise ImportError(msg, name="pyk." + name)
    if not held:
        raise ImportError("the cache entries of %s vanished while pyk held them" % name,
                          name="pyk." + name)
    return dirs


def _lock(d):
    """A shared lock on entry `d`, as the cache's EntryLock takes one: the descriptor, or
    None if the lock file is gone or is no longer the one the path names."""
    try:
        fd = os.open(d + ".lock", os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH)
        held, now = os.fstat(fd), os.stat(d + ".lock")
        if (held.st_ino, held.st_dev) == (now.st_ino, now.st_dev) and os.path.isdir(d):
            return fd
    except FileNotFoundError:
        pass
    os.close(fd)
    return None


def _hold(dirs):
    """Shared locks on every entry, kept for the process's lifetime; False, holding none
    of them, if one is gone."""
    fds = []
    for d in dirs:
        fd = _lock(d)
        if fd is None:
            for f in fds:
                os.close(f)
            return False
        fds.append(fd)
    _held.extend(fds)
    return True


class _Alias(importlib.abc.Loader):
    """Loads `pyk.X[.Y]` as the module `X[.Y]` imported from the library's unpacked app,
    so the library's own absolute imports and its dependencies resolve as they were built."""

    def __init__(self, real):
        self.real = real

    def create_module(self, spec):
        return importlib.import_module(self.real)

    def exec_module(self, module):
        pass

    # For `python -m pyk.foo`: runpy asks for code rather than importing.
    def get_code(self, fullname):
        return importlib.util.find_spec(self.real).loader.get_code(self.real)

    def is_package(self, fullname):
        return importlib.util.find_spec(self.real).submodule_search_locations is not None


class _Finder(importlib.abc.MetaPathFinder):
    _pyk_hook = True

    def find_spec(self, fullname, path=None, target=None):
        if not fullname.startswith(__name__ + "."):
            return None
        real = fullname[len(__name__) + 1:]
        top = real.split(".")[0]
        dirs = _resolved.get(top)
        if dirs is None:
            dirs = _resolve(top)
            _resolved[top] = dirs
        # Again on every import: a notebook may have reset sys.path.
        for d in reversed(dirs):
            if d not in sys.path:
                sys.path.insert(0, d)
        spec = importlib.util.find_spec(real)
        if spec is None:
            return None
        is_pkg = spec.submodule_search_locations is not None
        return importlib.util.spec_from_loader(fullname, _Alias(real), is_package=is_pkg)


# One finder, even when this module is reloaded.
sys.meta_path[:] = [f for f in sys.meta_path if not getattr(f, "_pyk_hook", False)]
sys.meta_path.insert(0, _Finder())
# `pyk` is a namespace for libraries only.
__path__ = []
