# Compiles every .py under a tree to __pycache__/NAME.cpython-3X.pyc, where the import
# system looks beside a source, with unchecked-hash invalidation (nothing is stat-ed or
# rewritten at import) and the path inside the tree as co_filename (no build-host paths; the
# loader fixes co_filename up to the real source path at import). Run by the target
# runtime's own interpreter, so the bytecode and the cache tag match it. Prints one line per
# file that fails.
import importlib.util
import os
import py_compile
import sys

root = sys.argv[1]
count = 0
for dirpath, dirnames, filenames in os.walk(root):
    dirnames.sort()
    for name in sorted(filenames):
        if not name.endswith(".py"):
            continue
        src = os.path.join(dirpath, name)
        rel = os.path.relpath(src, root)
        try:
            py_compile.compile(
                src,
                cfile=importlib.util.cache_from_source(src),
                dfile=rel,
                doraise=True,
                invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH,
            )
            count += 1
        except py_compile.PyCompileError as e:
            print("FAIL\t%s\t%s" % (rel, str(e.exc_value).replace("\n", " ")))
print("OK\t%d" % count)
