# Moves the precompiled pure-Python stdlib of a staged runtime into lib/pythonXY.zip,
# the archive CPython puts first on sys.path by default. An unpacked runtime then has
# ~100 files instead of ~1200, and creating files is what a first run spends its time on.
# Each module goes in as mod.py plus its __pycache__ bytecode as mod.pyc beside it, where
# zipimport looks for it. Stored (not deflated): the layer is zstd-compressed anyway, and
# stored members import without zlib. Deterministic: sorted, fixed dates and modes.
import os
import shutil
import sys
import zipfile

root, minor = sys.argv[1], sys.argv[2]  # runtime root, "3.11"
stdlib = os.path.join(root, "lib", "python" + minor)
archive = os.path.join(root, "lib", "python" + minor.replace(".", "") + ".zip")
tag = sys.implementation.cache_tag
KEEP = {"lib-dynload", "site-packages"}
# getpath of CPython < 3.11 finds the prefix by this landmark only.
LANDMARK = "os.py"


def add(zf, name, path):
    info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
    info.external_attr = 0o644 << 16
    with open(path, "rb") as f:
        zf.writestr(info, f.read(), compress_type=zipfile.ZIP_STORED)


with zipfile.ZipFile(archive, "w") as zf:
    for dirpath, dirnames, filenames in os.walk(stdlib):
        rel = os.path.relpath(dirpath, stdlib)
        if rel == ".":
            dirnames[:] = [d for d in dirnames if d not in KEEP]
        dirnames[:] = sorted(d for d in dirnames if d != "__pycache__")
        for name in sorted(filenames):
            if not name.endswith(".py"):
                continue
            arc = name if rel == "." else rel.replace(os.sep, "/") + "/" + name
            add(zf, arc, os.path.join(dirpath, name))
            pyc = os.path.join(dirpath, "__pycache__", "%s.%s.pyc" % (name[:-3], tag))
            if os.path.exists(pyc):
                add(zf, arc + "c", pyc)

for name in os.listdir(stdlib):
    if name in KEEP or name == LANDMARK:
        continue
    path = os.path.join(stdlib, name)
    if os.path.isdir(path) and not os.path.islink(path):
        # Data files inside packages (rare in the stripped stdlib) stay on disk.
        for dirpath, dirnames, filenames in os.walk(path, topdown=False):
            for f in filenames:
                if f.endswith(".py") or dirpath.endswith("__pycache__"):
                    os.remove(os.path.join(dirpath, f))
            if not os.listdir(dirpath):
                os.rmdir(dirpath)
    elif name.endswith(".py"):
        os.remove(path)
shutil.rmtree(os.path.join(stdlib, "__pycache__"), ignore_errors=True)
