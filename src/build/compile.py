# Compiles every .py under a staging directory to a .pyc BESIDE it (where zipimport
# looks), with unchecked-hash invalidation (no stat of sources at import) and the path
# inside the payload as co_filename (no build-host paths). Run by the target runtime's
# own interpreter, so the bytecode matches it. Prints one line per file that fails.
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
                cfile=src + "c",
                dfile=rel,
                doraise=True,
                invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH,
            )
            count += 1
        except py_compile.PyCompileError as e:
            print("FAIL\t%s\t%s" % (rel, str(e.exc_value).replace("\n", " ")))
print("OK\t%d" % count)
