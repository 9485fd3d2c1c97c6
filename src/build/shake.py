# Run by `pyk build --strip-stdlib` with the runtime's own interpreter (see shake.rs):
#   python -s -B -c SCRIPT JSON_REQUEST
# Prints one JSON object: the stdlib modules the program may import, and the paths (relative
# to the runtime root) of those it never reaches, which the shaken runtime leaves out.
#
# A stdlib module (`json.pyc`, sourceless, where `json.py` was; a package's `__init__`; an
# extension module in lib-dynload) is reached when
#   - the interpreter imports it to start: `sys.modules` after `python -I -c pass`, which runs
#     site and the `_pyk.pth` hook (what `-X importtime` lists);
#   - any module of the app or of the dependencies (every one, not only those the entry
#     imports) imports it: `import` statements anywhere in the code, functions included, read
#     from the bytecode; in a module that calls `importlib.import_module` or `__import__`,
#     every string constant naming a stdlib module counts as an import too;
#   - an extension module of the dependencies names it (an identifier-like string in the
#     binary equal to a stdlib module's name: Cython and pyo3 modules spell what they import);
#   - a reached stdlib module imports it (relative imports and `from pkg import sub`
#     resolved), except in its `if __name__ == "__main__":` block; a reached extension
#     module imports it when initialised (the reached extension modules are imported in a
#     fresh interpreter and its `sys.modules` taken); C code imports it lazily (IMPLICIT);
#   - it is always kept (ALWAYS), in a package kept whole (WHOLE), or listed in `keep`.
# A package's `__main__` is reached only when named (`python -m json.tool` needs
# `keep = ["json.tool"]`). DROP_ALWAYS (tests, IDLE, Tk, ensurepip, lib2to3, pydoc's topics)
# goes unless kept.
import dis
import json
import marshal
import os
import re
import subprocess
import sys

request = json.loads(sys.argv[1])
roots = request["roots"]
keep = request["keep"]
DEBUG = bool(os.environ.get("PYK_SHAKE_DEBUG"))

ALWAYS = [
    # The warnings machinery imports it from C when a warning is filtered.
    "warnings",
    # time.strptime and datetime.strptime import it from C.
    "_strptime",
]
if sys.version_info >= (3, 13):
    # The C error display calls traceback._print_exception_bltin.
    ALWAYS.append("traceback")
# Packages that import their own modules by computed names or from C.
WHOLE = {"encodings", "sqlite3", "asyncio", "xml", "email", "concurrent"}
IMPLICIT = {
    "_sqlite3": ["sqlite3"],
    "_datetime": ["_strptime"],
    "_ctypes": ["ctypes"],
    "_elementtree": ["xml.etree.ElementPath"],
    "pyexpat": ["xml.parsers.expat"],
    "pickle": ["_compat_pickle", "copyreg"],
}
DROP_ALWAYS = {
    "test", "idlelib", "tkinter", "_tkinter", "turtle", "turtledemo", "ensurepip",
    "lib2to3", "pydoc_data", "__phello__", "__hello__", "_testcapi", "_testinternalcapi",
    "_testbuffer", "_testimportmultiple", "_testmultiphase", "_testclinic", "_ctypes_test",
    "xxlimited", "xxlimited_35", "_xxtestfuzz", "_testsinglephase", "_testexternalinspection",
    "antigravity", "this",
}

prefix = os.path.realpath(sys.prefix)
EXT = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)\.(?:[A-Za-z0-9_-]+\.)?so$")


def stdlib_dirs():
    """The runtime's stdlib directories: its sys.path inside the prefix, without site dirs."""
    out = []
    for p in sys.path:
        real = os.path.realpath(p) if p else ""
        if not real.startswith(prefix + os.sep) or not os.path.isdir(real):
            continue
        if os.path.basename(real) in ("site-packages", "dist-packages"):
            continue
        out.append(real)
    return out


# Every stdlib module: dotted name -> (path, kind) with kind "pkg" (path: its directory),
# "mod" (a .py/.pyc file) or "ext" (an extension module).
modules = {}


def index(directory, package):
    for entry in sorted(os.listdir(directory)):
        path = os.path.join(directory, entry)
        if os.path.isdir(path) and not os.path.islink(path):
            if not entry.isidentifier():
                continue
            if any(os.path.exists(os.path.join(path, "__init__" + s)) for s in (".py", ".pyc")):
                name = package + entry
                modules[name] = (path, "pkg")
                index(path, name + ".")
            continue
        name, kind = None, None
        if entry.endswith((".py", ".pyc")):
            name, kind = entry.rsplit(".", 1)[0], "mod"
            if name == "__init__":
                continue
        else:
            m = EXT.match(entry)
            if m:
                name, kind = m.group(1), "ext"
        if name and name.isidentifier():
            modules.setdefault(package + name, (path, kind))


for d in stdlib_dirs():
    index(d, "")

unknown = sorted(k for k in keep if k not in modules and k not in sys.builtin_module_names)
if unknown:
    print(json.dumps({"unknown_keep": unknown}))
    sys.exit(0)


def code_file(name):
    path, kind = modules[name]
    if kind == "pkg":
        for s in (".pyc", ".py"):
            if os.path.exists(os.path.join(path, "__init__" + s)):
                return os.path.join(path, "__init__" + s)
        return None
    return path if kind == "mod" else None


def load_code(path):
    try:
        if path.endswith(".pyc"):
            with open(path, "rb") as f:
                return marshal.loads(f.read()[16:])
        # A module of the app or the deps: its .pyc, compiled by the build just before.
        try:
            import importlib.util
            with open(importlib.util.cache_from_source(path), "rb") as f:
                return marshal.loads(f.read()[16:])
        except (OSError, ValueError, EOFError, NotImplementedError):
            pass
        with open(path, "rb") as f:
            return compile(f.read(), path, "exec", dont_inherit=True)
    except Exception:
        # Python 2 files among a dependency's data, say: they import nothing.
        return None


NAME = re.compile(r"^\.*[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")
LOADS = ("LOAD_CONST", "LOAD_SMALL_INT")
USES = {"LOAD_ATTR", "LOAD_METHOD", "LOAD_GLOBAL", "LOAD_NAME", "IMPORT_FROM"}


# Self-test functions a module's main block calls (`pickle._test`, `tarfile.main`): their
# imports (doctest, argparse…) are not the module's.
SELF_TESTS = {"_test", "test", "_main", "main", "_demo", "demo"}


def main_block(instructions):
    """Offsets of the module's `if __name__ == "__main__":` block, and the self-test
    functions it calls."""
    for i, ins in enumerate(instructions):
        window = instructions[i:i + 2]
        if len(window) < 2 or {w.argval for w in window} != {"__name__", "__main__"}:
            continue
        for jump in instructions[i + 2:i + 6]:
            if "JUMP" in jump.opname and "FALSE" in jump.opname:
                block = range(jump.offset, jump.argval)
                called = {j.argval for j in instructions if j.offset in block
                          and j.opname in ("LOAD_NAME", "LOAD_GLOBAL")}
                return block, called & SELF_TESTS
    return range(0), set()


def imports_of(code, nested=True):
    """(name, fromlist, level) of every import in a module's code (`nested`: in its
    functions and classes too), the strings it holds if it imports by computed names, and
    the names (attributes, globals) it uses."""
    found = []
    strings = set()
    names = set()
    dynamic = False
    stack = [(code, True)]
    while stack:
        co, top = stack.pop()
        if "import_module" in co.co_names or "__import__" in co.co_names:
            dynamic = True
        instructions = list(dis.get_instructions(co))
        skip, self_tests = main_block(instructions) if top else (range(0), set())
        for i, ins in enumerate(instructions):
            # A use, not a definition, nor a function forwarding to its namesake
            # (`importlib.invalidate_caches` calls each finder's).
            if ins.opname in USES and ins.argval != co.co_name and ins.offset not in skip:
                names.add(ins.argval)
            if ins.opname != "IMPORT_NAME" or ins.offset in skip:
                continue
            level, fromlist = 0, None
            if i >= 2 and instructions[i - 2].opname in LOADS:
                level = instructions[i - 2].argval
            if i >= 1 and instructions[i - 1].opname in LOADS:
                fromlist = instructions[i - 1].argval
            found.append((ins.argval, fromlist if isinstance(fromlist, tuple) else (),
                          level if isinstance(level, int) else 0))
        for c in co.co_consts:
            if isinstance(c, str):
                strings.add(c)
            elif isinstance(c, (tuple, frozenset)):
                strings.update(s for s in c if isinstance(s, str))
            elif hasattr(c, "co_code") and nested and not (top and c.co_name in self_tests):
                stack.append((c, False))
    return found, ({s for s in strings if NAME.match(s)} if dynamic else set()), names


IDENT = re.compile(rb"[A-Za-z_][A-Za-z0-9_.]{1,127}")


def names_in_binary(path):
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError:
        return set()
    out = set()
    for m in set(IDENT.findall(data)):
        s = m.decode().strip(".")
        out.add(s)
        out.add(s.split(".")[0])
    return out


reached = set()
queue = []


def reach(name, why):
    """Reach a stdlib module and its parent packages."""
    if name not in modules or name in reached:
        return
    top = name.split(".")[0]
    if top in DROP_ALWAYS and not any(k.split(".")[0] == top for k in keep):
        return
    reached.add(name)
    queue.append(name)
    if DEBUG:
        print("reach", name, "from", why, file=sys.stderr)
    if "." in name:
        reach(name.rpartition(".")[0], name)
    if top in WHOLE:
        for other in modules:
            if other.startswith(top + ".") or other == top:
                reach(other, top + " (whole)")


# The import system's own modules, always loaded: what their functions import lazily is
# imported when something calls that function (`get_resource_reader`, `find_distributions`,
# `invalidate_caches`…), so it is reached by any module naming the function (ON_DEMAND),
# not by the import system itself.
IMPORT_SYSTEM = {"importlib._bootstrap", "importlib._bootstrap_external", "zipimport"}


def on_demand():
    """Function name -> the modules the import system imports when it is called, read from
    this runtime's own import system (so it holds on every Python version)."""
    out = {}
    for name in IMPORT_SYSTEM:
        path = code_file(name) if name in modules else None
        code = load_code(path) if path else None
        stack = [c for c in (code.co_consts if code else ()) if hasattr(c, "co_code")]
        while stack:
            co = stack.pop()
            stack.extend(c for c in co.co_consts if hasattr(c, "co_code"))
            for ins in dis.get_instructions(co):
                if ins.opname == "IMPORT_NAME":
                    out.setdefault(co.co_name, set()).add(ins.argval)
    return out


# Lazy imports that serve only the interactive interpreter (`help()` needs
# `keep = ["pydoc"]`).
IGNORED = {
    ("_sitebuiltins", "pydoc"),
    ("site", "rlcompleter"),
    ("site", "readline"),
}


def resolve(found, strings, names, package, why):
    for called in names & ON_DEMAND.keys():
        for target in ON_DEMAND[called]:
            reach(target, why + " (calls " + called + ")")
    for name, fromlist, level in found:
        if (why, name) in IGNORED:
            continue
        if level > 0:
            if package is None:
                continue
            parts = package.split(".")
            if level - 1 > len(parts) - 1:
                continue
            base = ".".join(parts[:len(parts) - (level - 1)])
            target = base + "." + name if name else base
        else:
            target = name
        reach(target, why)
        for f in fromlist:
            if f == "*":
                for other in modules:
                    if other.rpartition(".")[0] == target:
                        reach(other, why)
            else:
                reach(target + "." + f, why)
    for s in strings:
        if s.startswith(".") and package is not None:
            s = package + s
        reach(s, why + " (by name)")


ON_DEMAND = on_demand()

# 1. What the interpreter imports to start (site, the .pth hook, encodings…).
env = {"PATH": "/usr/bin:/bin", "PYK_PATH": ""}
started = subprocess.run(
    [sys.executable, "-I", "-c", "import sys; print(' '.join(sys.modules))"],
    capture_output=True, text=True, env=env, check=True,
).stdout.split()
for m in started:
    reach(m, "start")
for name in ALWAYS + list(keep) + [m for m in modules if m.startswith("_sysconfigdata")]:
    reach(name, "always")

# 2. Every module of the app and the dependencies.
for root in roots:
    for dirpath, dirnames, names in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d != "__pycache__")
        for n in sorted(names):
            path = os.path.join(dirpath, n)
            if n.endswith(".py"):
                code = load_code(path)
                if code is not None:
                    resolve(*imports_of(code), None, path)
            elif ".so" in n and not os.path.islink(path):
                for m in names_in_binary(path) & modules.keys():
                    reach(m, path)

# 3. Transitively through the stdlib; extension modules imported in a fresh interpreter.
probed = set()
while True:
    while queue:
        name = queue.pop()
        for dep in IMPLICIT.get(name, ()):
            reach(dep, name)
        path = code_file(name)
        code = load_code(path) if path else None
        if code is not None:
            package = name if modules[name][1] == "pkg" else name.rpartition(".")[0] or None
            resolve(*imports_of(code, name not in IMPORT_SYSTEM), package, name)
    exts = sorted(n for n in reached if modules[n][1] == "ext" and n not in probed)
    if not exts:
        break
    probed.update(exts)
    probe = (
        "import sys\n"
        "for n in %r:\n"
        "    try:\n"
        "        __import__(n)\n"
        "    except Exception:\n"
        "        pass\n"
        "print(' '.join(sys.modules))\n" % (exts,)
    )
    out = subprocess.run(
        [sys.executable, "-I", "-S", "-c", probe], capture_output=True, text=True, env=env
    ).stdout.split()
    for m in out:
        reach(m, "initialising " + " ".join(exts))

# Drop each module never reached: a package's directory when nothing in it is reached.
dropped = sorted(set(modules) - reached)
paths = []
for name in dropped:
    parent = name.rpartition(".")[0]
    if parent and parent not in reached:
        continue  # its package's directory goes
    paths.append(os.path.relpath(modules[name][0], prefix))
print(json.dumps({"kept": sorted(reached), "dropped": dropped, "paths": sorted(paths)}))
