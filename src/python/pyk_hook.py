"""pyk: import libraries published to a pyk repository.

    from pyk import foo          # the library package `foo`
    from pyk.foo import bar      # a name or submodule inside it
    python -m pyk.foo            # run its main block

Written by `pyk python-setup`; it needs nothing but the standard library (Python 3.9+).
Each first import of a library in a process asks the `pyk` binary for the current
version (the same update check, cache and offline fallback as `pyk foo`), then imports
it from the cached executable, which is also a zip, through zipimport.
"""

import importlib.abc
import importlib.util
import os
import subprocess
import sys
import zipimport

# The pyk binary that wrote this file; PYK_BIN overrides it.
PYK_BIN = os.environ.get("PYK_BIN") or __PYK_BIN__


def _artifact(name):
    """Path of the current artifact of library `name`, fetched if needed."""
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
    return proc.stdout.strip()


class _Alias(importlib.abc.Loader):
    """Loads `pyk.X[.Y]` as the module `X[.Y]` imported from the library's artifact, so
    the library's own absolute imports and its dependencies resolve as they were built."""

    def __init__(self, real, importer):
        self.real = real
        self.importer = importer

    def create_module(self, spec):
        return importlib.import_module(self.real)

    def exec_module(self, module):
        pass

    # For `python -m pyk.foo`: runpy asks for code rather than importing.
    def get_code(self, fullname):
        return self.importer.get_code(self.real)

    def is_package(self, fullname):
        return self.importer.is_package(self.real)


class _Finder(importlib.abc.MetaPathFinder):
    def __init__(self):
        self.artifacts = {}

    def find_spec(self, fullname, path=None, target=None):
        if not fullname.startswith(__name__ + "."):
            return None
        real = fullname[len(__name__) + 1:]
        top = real.split(".")[0]
        artifact = self.artifacts.get(top)
        if artifact is None:
            artifact = _artifact(top)
            self.artifacts[top] = artifact
            if artifact not in sys.path:
                sys.path.insert(0, artifact)
        importer = zipimport.zipimporter(artifact)
        try:
            is_pkg = importer.is_package(real)
        except zipimport.ZipImportError:
            return None
        spec = importlib.util.spec_from_loader(fullname, _Alias(real, importer), is_package=is_pkg)
        return spec


sys.meta_path.insert(0, _Finder())
# `pyk` is a namespace for libraries only.
__path__ = []
