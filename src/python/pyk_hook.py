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
    """The unpacked directories (app first) of the current version of library `name`."""
    version = "%d.%d" % sys.version_info[:2]
    try:
        proc = subprocess.run(
            [PYK_BIN, "resolve", "lib", name, "--python", version],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            universal_newlines=True,
        )
    except OSError as e:
        raise ImportError("cannot run pyk (%s): %s" % (PYK_BIN, e), name="pyk." + name)
    for line in proc.stderr.splitlines():
        if "warning:" in line:
            sys.stderr.write(line + "\n")
    if proc.returncode != 0:
        why = proc.stderr.strip().splitlines()
        msg = why[-1] if why else "pyk resolve failed"
        if msg.startswith("pyk: error: "):
            msg = msg[len("pyk: error: "):]
        raise ImportError(msg, name="pyk." + name)
    return [line for line in proc.stdout.splitlines() if line]


def _hold(dirs):
    """Takes a shared lock on each entry; False if one vanished in between (a prune)."""
    for d in dirs:
        fd = os.open(d + ".lock", os.O_RDONLY | os.O_CLOEXEC)
        fcntl.flock(fd, fcntl.LOCK_SH)
        _held.append(fd)
        if not os.path.isdir(d):
            return False
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
            if not _hold(dirs):
                dirs = _resolve(top)
                _hold(dirs)
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
