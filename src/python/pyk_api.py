"""The API tree of an app layer, read from source with `ast`: no module is imported, so
no package code runs at build time. Run by `pyk build` with the runtime's own interpreter
(`python -s -B -c SOURCE APP_DIR`); prints the tree as one JSON document.

Modules are the app's top-level `.py` files and packages (nested, namespace packages
included); a name starting with `_` is private and left out, with its subtree. In each
module: the public functions, classes (with their methods, constructor signature, nested
classes and attributes), variables, and the names an `__init__` re-exports from its own
package. `__all__`, when it is a literal, decides what is public. Signatures are
rendered as the source writes them (defaults and annotations unparsed), in the form
`inspect.signature` prints them.

One definition that cannot be rendered (a default nested too deep for `ast.unparse`)
leaves out only itself, named in its module's `skipped`; a module that cannot be parsed
at all is listed with its `error`. The tree is read on a thread with a large stack and a
raised recursion limit, so that deep but real expressions still parse.
"""

import ast
import json
import os
import sys
import threading

FORMAT = 1
# Not modules: what pyk generates into the app layer, and packaging metadata.
SKIP_FILES = {"__pyk_boot__.py"}
# Dunder methods worth listing: they say how an instance is used (`__init__` is the
# class's own signature).
DUNDERS = {"__call__", "__enter__", "__exit__", "__iter__", "__len__",
           "__getitem__", "__aenter__", "__aexit__"}
VALUE_MAX = 80
# A default longer than this is shown as `...`: a signature stays a line, not a page.
DEFAULT_MAX = 1000
# What one definition may fail with, leaving out only itself.
UNRENDERABLE = (RecursionError, MemoryError, ValueError)
# Room for deep expressions: Python frames, and the C stack the parser recurses on.
RECURSION_LIMIT = 20000
STACK_SIZE = 256 << 20


def guarded(skipped, name, make, *args):
    """`make(*args)`, or None with `name` added to `skipped` if it cannot be rendered."""
    try:
        return make(*args)
    except UNRENDERABLE as e:
        skipped.append("%s (%s)" % (name, type(e).__name__))
        return None


def put(table, name, entry):
    if entry is None:
        table.pop(name, None)
    else:
        table[name] = entry


def unparse(node):
    return ast.unparse(node) if node is not None else None


def first_line(node):
    try:
        doc = ast.get_docstring(node)
    except TypeError:
        return None
    if not doc:
        return None
    for line in doc.splitlines():
        if line.strip():
            return line.strip()
    return None


def render_arg(arg, default):
    text = arg.arg
    if arg.annotation is not None:
        text += ": " + unparse(arg.annotation)
    if default is not None:
        value = unparse(default)
        if len(value) > DEFAULT_MAX:
            value = "..."
        text += (" = " if arg.annotation is not None else "=") + value
    return text


def render_args(args, drop_first=False):
    """`(a, /, b: int = 1, *args, c, d=2, **kw)`: the parameters as written."""
    positional = list(args.posonlyargs) + list(args.args)
    defaults = [None] * (len(positional) - len(args.defaults)) + list(args.defaults)
    n_posonly = len(args.posonlyargs)
    pairs = list(zip(positional, defaults))
    if drop_first and pairs:
        pairs = pairs[1:]
        n_posonly = max(0, n_posonly - 1)
    parts = []
    for i, (arg, default) in enumerate(pairs):
        parts.append(render_arg(arg, default))
        if n_posonly and i == n_posonly - 1:
            parts.append("/")
    if args.vararg is not None:
        parts.append("*" + render_arg(args.vararg, None))
    elif args.kwonlyargs:
        parts.append("*")
    for arg, default in zip(args.kwonlyargs, args.kw_defaults):
        parts.append(render_arg(arg, default))
    if args.kwarg is not None:
        parts.append("**" + render_arg(args.kwarg, None))
    return "(" + ", ".join(parts) + ")"


def signature(fn, drop_first=False):
    text = render_args(fn.args, drop_first)
    if fn.returns is not None:
        text += " -> " + unparse(fn.returns)
    return text


def decorator_name(node):
    """`functools.cache` for `@functools.cache` and `@functools.cache(...)`."""
    if isinstance(node, ast.Call):
        node = node.func
    return unparse(node)


def is_public(name):
    return not name.startswith("_")


def function(fn, in_class=False):
    decorators = [decorator_name(d) for d in fn.decorator_list]
    short = {d.rsplit(".", 1)[-1] for d in decorators}
    entry = {"name": fn.name, "line": fn.lineno}
    if in_class:
        if "property" in short or "cached_property" in short:
            entry["kind"] = "property"
        elif "staticmethod" in short:
            entry["kind"] = "staticmethod"
        elif "classmethod" in short:
            entry["kind"] = "classmethod"
        else:
            entry["kind"] = "method"
    if isinstance(fn, ast.AsyncFunctionDef):
        entry["async"] = True
    entry["signature"] = signature(fn)
    if decorators:
        entry["decorators"] = decorators
    doc = first_line(fn)
    if doc:
        entry["doc"] = doc
    return entry


def is_overload(fn):
    return any(decorator_name(d).rsplit(".", 1)[-1] == "overload" for d in fn.decorator_list)


def is_setter(fn):
    return any(
        isinstance(d, ast.Attribute) and d.attr in ("setter", "deleter")
        for d in fn.decorator_list
    )


def short_value(node):
    if node is None:
        return None
    text = unparse(node)
    if len(text) > VALUE_MAX or "\n" in text:
        return None
    return text


def variable(target, annotation, value, line):
    entry = {"name": target, "line": line}
    if annotation is not None:
        entry["annotation"] = unparse(annotation)
    value = short_value(value)
    if value is not None:
        entry["value"] = value
    return entry


def flat_body(body):
    """Statements of a body, with those under `if`/`try` (conditional definitions,
    `try: import fast except ImportError: def slow`) taken in order."""
    for stmt in body:
        if isinstance(stmt, ast.If):
            yield from flat_body(stmt.body)
            yield from flat_body(stmt.orelse)
        elif isinstance(stmt, ast.Try) or type(stmt).__name__ == "TryStar":
            yield from flat_body(stmt.body)
            for handler in stmt.handlers:
                yield from flat_body(handler.body)
            yield from flat_body(stmt.orelse)
            yield from flat_body(stmt.finalbody)
        else:
            yield stmt


def dataclass_signature(cls):
    """The `__init__` a dataclass gets from its annotated fields."""
    parts = []
    kw_only = False
    for d in cls.decorator_list:
        if isinstance(d, ast.Call):
            for k in d.keywords:
                if k.arg == "kw_only" and isinstance(k.value, ast.Constant) and k.value.value:
                    kw_only = True
    star = False
    for stmt in cls.body:
        if not isinstance(stmt, ast.AnnAssign) or not isinstance(stmt.target, ast.Name):
            continue
        ann = unparse(stmt.annotation)
        if ann.startswith(("ClassVar", "typing.ClassVar")):
            continue
        if ann in ("KW_ONLY", "dataclasses.KW_ONLY"):
            kw_only = True
            continue
        text = stmt.target.id + ": " + ann
        value = stmt.value
        if isinstance(value, ast.Call) and decorator_name(value.func).rsplit(".", 1)[-1] == "field":
            keywords = {k.arg: k.value for k in value.keywords}
            if keywords.get("init") is not None and isinstance(keywords["init"], ast.Constant) \
                    and keywords["init"].value is False:
                continue
            if "default" in keywords:
                text += " = " + unparse(keywords["default"])
            elif "default_factory" in keywords:
                text += " = <factory>"
            if isinstance(keywords.get("kw_only"), ast.Constant) and keywords["kw_only"].value:
                if not star:
                    parts.append("*")
                    star = True
        elif value is not None:
            text += " = " + unparse(value)
        if kw_only and not star:
            parts.append("*")
            star = True
        parts.append(text)
    return "(" + ", ".join(parts) + ") -> None"


def class_(cls, skipped):
    entry = {"name": cls.name, "line": cls.lineno}
    bases = [unparse(b) for b in cls.bases] + [
        "%s=%s" % (k.arg, unparse(k.value)) if k.arg else "**" + unparse(k.value)
        for k in cls.keywords
    ]
    if bases:
        entry["bases"] = bases
    decorators = [decorator_name(d) for d in cls.decorator_list]
    if decorators:
        entry["decorators"] = decorators
    doc = first_line(cls)
    if doc:
        entry["doc"] = doc
    methods, classes, attributes = {}, {}, {}
    init = None
    for stmt in flat_body(cls.body):
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
            if stmt.name == "__init__":
                init = stmt
            if (is_public(stmt.name) or stmt.name in DUNDERS) and not is_overload(stmt) \
                    and not is_setter(stmt):
                put(methods, stmt.name, guarded(
                    skipped, cls.name + "." + stmt.name, function, stmt, True))
        elif isinstance(stmt, ast.ClassDef) and is_public(stmt.name):
            put(classes, stmt.name, guarded(
                skipped, cls.name + "." + stmt.name, class_, stmt, skipped))
        elif isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name):
            if is_public(stmt.target.id):
                put(attributes, stmt.target.id, guarded(
                    skipped, cls.name + "." + stmt.target.id, variable,
                    stmt.target.id, stmt.annotation, stmt.value, stmt.lineno))
        elif isinstance(stmt, ast.Assign):
            for target in stmt.targets:
                if isinstance(target, ast.Name) and is_public(target.id):
                    put(attributes, target.id, guarded(
                        skipped, cls.name + "." + target.id, variable,
                        target.id, None, stmt.value, stmt.lineno))
    constructor = None
    if init is not None:
        constructor = guarded(skipped, cls.name + ".__init__", signature, init, True)
    elif any(d.rsplit(".", 1)[-1] == "dataclass" for d in decorators):
        constructor = guarded(skipped, cls.name + ".__init__", dataclass_signature, cls)
    if constructor is not None:
        entry["signature"] = constructor
    if attributes:
        entry["attributes"] = list(attributes.values())
    if methods:
        entry["methods"] = list(methods.values())
    if classes:
        entry["classes"] = list(classes.values())
    return entry


def literal_names(node):
    """The strings of a literal list or tuple, else None."""
    if isinstance(node, (ast.List, ast.Tuple)) and all(
        isinstance(e, ast.Constant) and isinstance(e.value, str) for e in node.elts
    ):
        return [e.value for e in node.elts]
    return None


def absolute(module, level, package):
    """The absolute name of `from <level dots><module> import ...` in `package`."""
    if level == 0:
        return module
    parts = package.split(".")
    if level > 1:
        parts = parts[: len(parts) - (level - 1)]
    base = ".".join(parts)
    return base + "." + module if module else base


def module_entry(name, path, rel, is_package):
    entry = {"name": name, "file": rel}
    if is_package:
        entry["package"] = True
    try:
        with open(path, "rb") as f:
            source = f.read()
        tree = ast.parse(source, rel)
    except (SyntaxError, UnicodeDecodeError) + UNRENDERABLE as e:
        entry["error"] = "%s: %s" % (type(e).__name__, e)
        return entry
    doc = first_line(tree)
    if doc:
        entry["doc"] = doc
    package = name if is_package else name.rpartition(".")[0]
    top = name.split(".")[0]
    functions, classes, variables, imported = {}, {}, {}, {}
    skipped = []
    declared = None
    for stmt in flat_body(tree.body):
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
            if is_overload(stmt):
                continue
            put(functions, stmt.name, guarded(skipped, stmt.name, function, stmt))
            classes.pop(stmt.name, None)
            variables.pop(stmt.name, None)
        elif isinstance(stmt, ast.ClassDef):
            put(classes, stmt.name, guarded(skipped, stmt.name, class_, stmt, skipped))
            functions.pop(stmt.name, None)
            variables.pop(stmt.name, None)
        elif isinstance(stmt, ast.Assign):
            for target in stmt.targets:
                if isinstance(target, ast.Name):
                    if target.id == "__all__":
                        declared = literal_names(stmt.value)
                    else:
                        put(variables, target.id, guarded(
                            skipped, target.id, variable,
                            target.id, None, stmt.value, stmt.lineno))
        elif isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name):
            put(variables, stmt.target.id, guarded(
                skipped, stmt.target.id, variable,
                stmt.target.id, stmt.annotation, stmt.value, stmt.lineno))
        elif isinstance(stmt, ast.AugAssign) and isinstance(stmt.target, ast.Name) \
                and stmt.target.id == "__all__" and declared is not None:
            more = literal_names(stmt.value)
            if more is not None:
                declared = declared + more
        elif isinstance(stmt, ast.ImportFrom):
            source = absolute(stmt.module or "", stmt.level, package)
            for alias in stmt.names:
                if alias.name != "*":
                    imported[alias.asname or alias.name] = source + "." + alias.name
        elif isinstance(stmt, ast.Import):
            for alias in stmt.names:
                if alias.asname:
                    imported[alias.asname] = alias.name

    def public(n):
        return n in declared if declared is not None else is_public(n)

    entry["functions"] = [f for n, f in functions.items() if public(n)]
    entry["classes"] = [c for n, c in classes.items() if public(n)]
    entry["variables"] = [v for n, v in variables.items() if public(n)]
    # Re-exports: what `__all__` lists, or (without one) public names a package's
    # `__init__` imports from the package itself (`from .core import square`); a plain
    # module's imports are for its own use.
    reexports = []
    for n, target in imported.items():
        if n in functions or n in classes or n in variables:
            continue
        own = target == top or target.startswith(top + ".")
        if (declared is not None and n in declared) or (
                declared is None and is_package and own and is_public(n)):
            reexports.append({"name": n, "target": target})
    if reexports:
        entry["reexports"] = reexports
    if skipped:
        entry["skipped"] = skipped
    for key in ("functions", "classes", "variables"):
        if not entry[key]:
            del entry[key]
    return entry


def identifier(name):
    return name.isidentifier() and not name.startswith(".")


def walk(root, rel_dir, prefix, out):
    """Modules under `root/rel_dir`; `prefix` is the dotted package name ('' at the top)."""
    here = os.path.join(root, rel_dir)
    try:
        names = sorted(os.listdir(here))
    except OSError:
        return
    for name in names:
        path = os.path.join(here, name)
        rel = os.path.join(rel_dir, name) if rel_dir else name
        if os.path.isdir(path) and not os.path.islink(path):
            if not identifier(name) or not is_public(name):
                continue
            dotted = prefix + name
            init = os.path.join(path, "__init__.py")
            if os.path.isfile(init):
                out.append(module_entry(dotted, init, os.path.join(rel, "__init__.py"), True))
            elif has_python(path):
                out.append({"name": dotted, "file": rel + "/", "package": True,
                            "namespace": True})
            else:
                continue
            walk(root, rel, dotted + ".", out)
        elif name.endswith(".py") and not (name in SKIP_FILES and not prefix):
            stem = name[:-3]
            if stem == "__init__" or not identifier(stem) or not is_public(stem):
                continue
            out.append(module_entry(prefix + stem, path, rel, False))
        elif ".cpython-" in name or name.endswith((".so", ".abi3.so")):
            stem = name.split(".")[0]
            if identifier(stem) and is_public(stem):
                out.append({"name": prefix + stem, "file": rel, "compiled": True})


def has_python(path):
    for _dirpath, dirnames, filenames in os.walk(path):
        dirnames[:] = [d for d in dirnames if d != "__pycache__"]
        if any(f.endswith(".py") for f in filenames):
            return True
    return False


def read_tree():
    root = sys.argv[1]
    modules = []
    walk(root, "", "", modules)
    modules.sort(key=lambda m: m["name"])
    tree = {
        "format": FORMAT,
        "python": "%d.%d" % sys.version_info[:2],
        "modules": modules,
    }
    sys.stdout.write(json.dumps(tree, ensure_ascii=False, separators=(",", ":")))


def main():
    """`read_tree` on a thread with room to recurse; its exception, if any, ends the run."""
    failed = []

    def run():
        try:
            read_tree()
        except BaseException as e:  # reported below, with its traceback
            failed.append(e)

    sys.setrecursionlimit(RECURSION_LIMIT)
    threading.stack_size(STACK_SIZE)
    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    if failed:
        raise failed[0]


main()
