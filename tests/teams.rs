//! Issue 13 against a real `pyk serve`: the API tree (`pyk info`) of a library with nested
//! modules, classes, keyword-only and positional-only parameters and annotations; packages
//! as environments (`pyk exec`, `pyk shell`, `PYK_MAIN`, `pyk pull --unpack`) with a real
//! PyPI dependency that has a compiled extension; and a Jupyter kernel (ipykernel driven
//! by nbclient, from PyPI) importing a published library, its update check run once.

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use common::repo::*;
use common::*;

const GEO_CORE: &str = r#""""Core geometry: points and shapes.

Everything else builds on these.
"""
from dataclasses import dataclass, field
import math


@dataclass
class Point:
    """A point in the plane."""

    x: float
    y: float = 0.0
    tags: list = field(default_factory=list)

    def norm(self, /, p: int = 2, *, exact: bool = False) -> float:
        """The p-norm of the point.

        Not the first line.
        """
        return (abs(self.x) ** p + abs(self.y) ** p) ** (1 / p)


def distance(a: Point, b: Point, /, *, scale: float = 1.0, **options) -> float:
    """Euclidean distance between two points."""
    return scale * math.hypot(a.x - b.x, a.y - b.y)


async def fetch(url: str, timeout=3.5, *args: bytes) -> "Point":
    """Fetch a point from somewhere."""


def _helper(x):
    return x


class Shape:
    """Something with sides."""

    kinds = ("convex", "concave")

    def __init__(self, sides: int, *names: str, closed: bool = True) -> None:
        self.sides = sides

    def area(self, unit: str = "m") -> float:
        """Area in square units."""
        return 0.0

    @classmethod
    def regular(cls, n: int) -> "Shape":
        """A regular shape with n sides."""
        return cls(n)

    @staticmethod
    def count(*shapes: "Shape", **by_kind: int) -> int:
        return len(shapes)

    @property
    def corners(self) -> int:
        """As many as sides."""
        return self.sides

    def _secret(self):
        pass

    class Style:
        """How a shape is drawn."""

        def apply(self, color: str | None = None) -> None:
            pass
"#;

const GEO_POLYGON: &str = r#""""Polygons."""
from ..core import Point, Shape


class Polygon(Shape):
    """A closed polyline."""

    def __init__(self, points: list[Point], *, name: str | None = None) -> None:
        super().__init__(len(points))
        self.points = points

    def perimeter(self) -> float:
        """Sum of the edges."""
        return 0.0
"#;

const GEO_STORE: &str = r#""""Points as YAML (PyYAML's C loader)."""
import yaml

from .core import Point


def dump(p: Point) -> str:
    return yaml.safe_dump({"x": p.x, "y": p.y}, default_flow_style=True).strip()


def load(text: str, *, loader=yaml.CSafeLoader) -> Point:
    """Read a point back."""
    d = yaml.load(text, Loader=loader)
    return Point(d["x"], d["y"])
"#;

/// The library: nested packages, a dependency from PyPI with a compiled extension.
fn geo() -> tempfile::TempDir {
    project(&[
        (
            "pyk.toml",
            "name = \"geo\"\nlib = \"geo\"\ndependencies = [\"PyYAML>=6\"]\n",
        ),
        (
            "geo/__init__.py",
            "\"\"\"Geometry for teams.\"\"\"\nfrom .core import Point, distance\n\nVERSION: str = \"1.0\"\n",
        ),
        ("geo/core.py", GEO_CORE),
        ("geo/store.py", GEO_STORE),
        (
            "geo/shapes/__init__.py",
            "\"\"\"Shapes.\"\"\"\n__all__ = [\"Polygon\", \"triangle\"]\nfrom .polygon import Polygon\n\n\ndef triangle(a, b, c):\n    return Polygon([a, b, c])\n\n\ndef unlisted():\n    pass\n",
        ),
        ("geo/shapes/polygon.py", GEO_POLYGON),
        ("geo/_private.py", "def hidden():\n    pass\n"),
    ])
}

/// Compares the recorded tree with what Python sees when it imports the library through
/// `from pyk import geo`: for every function, method and class, the parameters' names,
/// kinds, defaults and annotated-or-not, and the docstring's first line. Prints `OK N`.
const CROSS_CHECK: &str = r#"
import ast, inspect, json, sys
from pyk import geo
import pyk.geo.core, pyk.geo.shapes, pyk.geo.shapes.polygon, pyk.geo.store

tree = json.loads(sys.stdin.read())
checked = 0

def params(sig_text):
    # A dataclass field's default_factory shows as <factory>, as inspect shows it.
    fn = ast.parse("def f" + sig_text.replace("<factory>", "...") + ": pass").body[0]
    a = fn.args
    pos = a.posonlyargs + a.args
    defaults = [None] * (len(pos) - len(a.defaults)) + a.defaults
    out = [(p.arg, "POSITIONAL_ONLY", d, p.annotation is not None) for p, d in zip(a.posonlyargs, defaults)]
    out += [(p.arg, "POSITIONAL_OR_KEYWORD", d, p.annotation is not None) for p, d in zip(a.args, defaults[len(a.posonlyargs):])]
    if a.vararg:
        out.append((a.vararg.arg, "VAR_POSITIONAL", None, a.vararg.annotation is not None))
    out += [(p.arg, "KEYWORD_ONLY", d, p.annotation is not None) for p, d in zip(a.kwonlyargs, a.kw_defaults)]
    if a.kwarg:
        out.append((a.kwarg.arg, "VAR_KEYWORD", None, a.kwarg.annotation is not None))
    return out, fn.returns is not None

def same(obj, entry, what):
    global checked
    sig = inspect.signature(obj)
    recorded, returns = params(entry["signature"])
    live = list(sig.parameters.values())
    assert len(live) == len(recorded), (what, sig, entry["signature"])
    for p, (name, kind, default, annotated) in zip(live, recorded):
        assert p.name == name and p.kind.name == kind, (what, p, name, kind)
        assert (p.annotation is not p.empty) == annotated, (what, p)
        if default is None:
            assert p.default is p.empty, (what, p)
        else:
            try:
                value = ast.literal_eval(default)
            except ValueError:
                value = eval(ast.unparse(default), vars(sys.modules[obj.__module__]))
            assert p.default == value, (what, p.default, value)
    assert (sig.return_annotation is not sig.empty) == returns, (what, sig)
    doc = inspect.getdoc(obj)
    first = doc.strip().splitlines()[0] if doc else None
    assert entry.get("doc") == first, (what, entry.get("doc"), first)
    checked += 1

def check_class(cls, entry, what):
    global checked
    if "signature" in entry:
        sig = inspect.signature(cls)
        recorded, _ = params(entry["signature"])
        assert [p.name for p in sig.parameters.values()] == [r[0] for r in recorded], (what, sig)
        checked += 1
    for m in entry.get("methods", []):
        raw = cls.__dict__[m["name"]]
        fn = raw.fget if isinstance(raw, property) else getattr(raw, "__func__", raw)
        same(fn, m, what + "." + m["name"])
    for inner in entry.get("classes", []):
        check_class(getattr(cls, inner["name"]), inner, what + "." + inner["name"])

for module in tree["modules"]:
    mod = sys.modules[module["name"]]
    for f in module.get("functions", []):
        same(getattr(mod, f["name"]), f, module["name"] + "." + f["name"])
    for c in module.get("classes", []):
        check_class(getattr(mod, c["name"]), c, module["name"] + "." + c["name"])
    for r in module.get("reexports", []):
        assert getattr(mod, r["name"]) is not None

# help() and inspect work on the imported modules as on any installed package.
import io, contextlib, pydoc
text = pydoc.render_doc(geo.core, renderer=pydoc.plaintext)
assert "Core geometry: points and shapes." in text and "class Shape" in text, text[:400]
assert "def area(self" in inspect.getsource(geo.core.Shape.area)
print("OK", checked)
"#;

#[test]
fn info_exec_shell_and_unpack() {
    let (_dir, mut server) = server();
    let lib = geo();
    publish(&server, lib.path());
    let client = Client::new(&server);

    // The tree, from the server: the package itself is never fetched.
    let text = ok(client.pyk().args(["info", "--lib", "geo"]));
    for bucket in [
        "artifacts-v1",
        "apps-v1",
        "units-v1",
        "views-v1",
        "runtimes-v2",
    ] {
        assert!(
            !client.cache().join(bucket).exists(),
            "pyk info fetched the package ({bucket})"
        );
    }
    let expected = [
        "lib geo 1 (Python 3.11; linux-x86_64)",
        "module geo (package)",
        "    Geometry for teams.",
        "  VERSION: str = '1.0'",
        "  Point (from geo.core.Point)",
        "  distance (from geo.core.distance)",
        "  module geo.core",
        "      Core geometry: points and shapes.",
        "    def distance(a: Point, b: Point, /, *, scale: float = 1.0, **options) -> float",
        "        Euclidean distance between two points.",
        "    async def fetch(url: str, timeout=3.5, *args: bytes) -> 'Point'",
        "    class Point",
        "        A point in the plane.",
        "      Point(x: float, y: float = 0.0, tags: list = <factory>) -> None",
        "      def norm(self, /, p: int = 2, *, exact: bool = False) -> float",
        "          The p-norm of the point.",
        "    class Shape",
        "      Shape(sides: int, *names: str, closed: bool = True) -> None",
        "      kinds = ('convex', 'concave')",
        "      def area(self, unit: str = 'm') -> float",
        "      @classmethod def regular(cls, n: int) -> 'Shape'",
        "      @staticmethod def count(*shapes: 'Shape', **by_kind: int) -> int",
        "      property corners(self) -> int",
        "      class Style",
        "        def apply(self, color: str | None = None) -> None",
        "  module geo.shapes (package)",
        "    Polygon (from geo.shapes.polygon.Polygon)",
        "    def triangle(a, b, c)",
        "    module geo.shapes.polygon",
        "      class Polygon(Shape)",
        "        Polygon(points: list[Point], *, name: str | None = None) -> None",
        "        def perimeter(self) -> float",
        "  module geo.store",
        "    def load(text: str, *, loader=yaml.CSafeLoader) -> Point",
    ];
    let lines: Vec<&str> = text.lines().collect();
    for want in expected {
        assert!(lines.contains(&want), "no line {want:?} in:\n{text}");
    }
    for absent in [
        "_private",
        "hidden",
        "_helper",
        "_secret",
        "unlisted",
        "Not the first line",
        "Everything else",
    ] {
        assert!(!text.contains(absent), "{absent} shown:\n{text}");
    }
    // In source order within a module, modules sorted.
    let at = |s: &str| text.find(s).unwrap();
    assert!(
        at("module geo.core") < at("module geo.shapes") && at("class Point") < at("class Shape")
    );

    // One part of it, as text and as JSON.
    let norm = ok(client
        .pyk()
        .args(["info", "--lib", "geo", "geo.core.Point.norm"]));
    assert_eq!(
        norm,
        "def norm(self, /, p: int = 2, *, exact: bool = False) -> float\n    The p-norm of the point.\n"
    );
    let style = ok(client
        .pyk()
        .args(["info", "--lib", "geo", "geo.core.Shape.Style", "--json"]));
    let style: serde_json::Value = serde_json::from_str(&style).unwrap();
    assert_eq!(style["format"], 1);
    let style = &style["class"];
    assert_eq!(style["doc"], "How a shape is drawn.");
    assert_eq!(
        style["methods"][0]["signature"],
        "(self, color: str | None = None) -> None"
    );
    let sub = ok(client.pyk().args(["info", "--lib", "geo", "geo.shapes"]));
    assert!(
        sub.starts_with("module geo.shapes (package)\n")
            && sub.contains("\n  module geo.shapes.polygon\n"),
        "{sub}"
    );
    assert!(!sub.contains("geo.core"), "{sub}");
    let err = fails(client.pyk().args(["info", "--lib", "geo", "geo.core.Nope"]));
    assert!(
        err.contains("no module or public name geo.core.Nope")
            && err.contains("geo.shapes.polygon"),
        "{err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    // The artifact file says the same.
    let local = ok(pyk().args(["info"]).arg(lib.path().join("dist/geo")));
    assert_eq!(
        local.split_once('\n').unwrap().1,
        text.split_once('\n').unwrap().1
    );
    let err = fails(client.pyk().args(["info", "geo"]));
    assert!(err.contains("no package run/geo"), "{err}");

    // The JSON against what Python sees importing the library: the same parameters, and
    // help() and inspect as usual.
    let json = ok(client.pyk().args(["info", "--lib", "geo", "--json"]));
    ok(client
        .pyk()
        .args(["python-setup", "--python", SYSTEM_PYTHON]));
    let mut check = client.python();
    check.args(["-c", CROSS_CHECK]);
    let out = with_stdin(&mut check, &json);
    let checked: usize = out.trim().strip_prefix("OK ").unwrap().parse().unwrap();
    assert!(checked >= 12, "{out}");

    // Packages as environments: a script of ours imports the library and its PyPI
    // dependency (a compiled extension), with its own directory first on sys.path.
    let work = project(&[
        (
            "script.py",
            "import sys, os, yaml, geo, geo.store\np = geo.store.load(geo.store.dump(geo.Point(3, 4)))\nprint(sys.argv[1:], p.norm(), yaml.__with_libyaml__, sys.path[0] == os.path.dirname(os.path.abspath(__file__)), os.environ.get('PYK_MAIN'))\n",
        ),
        (
            "child.py",
            "import subprocess, sys\nprint(subprocess.run([sys.argv[1]], capture_output=True, text=True).stdout.strip())\n",
        ),
    ]);
    let script = work.path().join("script.py");
    let want = "['a', '--b'] 5.0 True True None\n";
    assert_eq!(
        ok(client
            .pyk()
            .args(["exec", "--lib", "geo", "--"])
            .arg(&script)
            .args(["a", "--b"])),
        want
    );
    assert_eq!(
        ok(client.pyk().args([
            "exec",
            "--lib",
            "geo",
            "-c",
            "import geo, yaml; print(geo.distance(geo.Point(0), geo.Point(3, 4)))"
        ])),
        "5.0\n"
    );
    assert_eq!(
        ok(client
            .pyk()
            .args(["exec", "--lib", "geo", "--", "-m", "geo.store"])),
        ""
    );
    let mut shell = client.pyk();
    shell.args(["shell", "--lib", "geo", "--", "-q"]);
    let out = with_stdin(
        &mut shell,
        "import geo.core\nprint('in shell', geo.core.Shape.regular(5).corners)\n",
    );
    assert!(out.contains("in shell 5"), "{out}");

    // The artifact itself, through PYK_MAIN.
    let geo_file = lib.path().join("dist/geo");
    let cache = tempfile::tempdir().unwrap();
    assert_eq!(
        ok(artifact(&geo_file, cache.path())
            .env("PYK_MAIN", "python")
            .arg(&script)
            .args(["a", "--b"])),
        want
    );
    assert_eq!(
        ok(artifact(&geo_file, cache.path())
            .env("PYK_MAIN", &script)
            .args(["a", "--b"])),
        want
    );
    // Not inherited: an artifact the script starts runs its own entry.
    let hello = hello();
    assert_eq!(
        ok(artifact(&geo_file, cache.path())
            .env("PYK_MAIN", work.path().join("child.py"))
            .arg(hello)),
        format!("hello\nargv0 {}\n", hello.display())
    );
    // An app's own modules have a tree too.
    let app_tree = ok(pyk().arg("info").arg(hello));
    assert!(app_tree.contains("module hello\n"), "{app_tree}");

    // A directory environment that outlives the artifact and the whole cache.
    let envs = tempfile::tempdir().unwrap();
    let dir = envs.path().join("geo-env");
    ok(client
        .pyk()
        .args(["pull", "--lib", "--unpack"])
        .arg(&dir)
        .arg("geo"));
    fs::remove_dir_all(client.cache()).unwrap();
    let python = dir.join("bin/python");
    let out = ok(Command::new(&python).env_clear().args([
        "-c",
        "import sys, geo, yaml, geo.store; print(geo.store.load('{x: 1, y: 2}'), yaml.__with_libyaml__, sys.prefix != sys.base_prefix)",
    ]));
    assert_eq!(out, "Point(x=1, y=2, tags=[]) True True\n");
    assert_eq!(
        ok(Command::new(&python)
            .env_clear()
            .arg(&script)
            .args(["a", "--b"])),
        want
    );
    let cfg = fs::read_to_string(dir.join("pyvenv.cfg")).unwrap();
    assert!(cfg.contains("pyk = lib geo 1"), "{cfg}");
    let err = fails(
        client
            .pyk()
            .args(["pull", "--lib", "--unpack"])
            .arg(&dir)
            .arg("geo"),
    );
    assert!(err.contains("--force"), "{err}");
    let other = envs.path().join("other");
    fs::create_dir(&other).unwrap();
    fs::write(other.join("mine.txt"), "keep").unwrap();
    let err = fails(
        client
            .pyk()
            .args(["pull", "--lib", "--force", "--unpack"])
            .arg(&other)
            .arg("geo"),
    );
    assert!(err.contains("pyk did not write it"), "{err}");
    assert_eq!(fs::read_to_string(other.join("mine.txt")).unwrap(), "keep");
    ok(client
        .pyk()
        .args(["pull", "--lib", "--force", "--unpack"])
        .arg(&dir)
        .arg("geo"));
    // A program's environment runs its entry as bin/NAME.
    publish(&server, app("v1").path());
    let app_dir = envs.path().join("app-env");
    ok(client
        .pyk()
        .args(["pull", "--unpack"])
        .arg(&app_dir)
        .arg("app"));
    let out = ok(Command::new(app_dir.join("bin/app"))
        .env("PYK_PACKAGE", "app")
        .env("PYK_VERSION", "1")
        .arg("x"));
    assert_eq!(out, "v1 app 1 x\n");

    // With the server gone, the tree of the version this machine has.
    ok(client.pyk().args(["exec", "--lib", "geo", "-c", "pass"]));
    server.child.kill().unwrap();
    server.child.wait().unwrap();
    let out = run(client
        .pyk()
        .args(["info", "--lib", "geo", "geo.core.Point.norm"]));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), norm);
    let warning = String::from_utf8_lossy(&out.stderr);
    assert!(
        warning.contains("showing the cached geo version 1"),
        "{warning}"
    );
}

/// Runs `cmd` with `input` on stdin; returns stdout, asserting success.
fn with_stdin(cmd: &mut Command, input: &str) -> String {
    use std::io::Write;
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// What the notebook test installs from PyPI (pinned; `scripts/setup.sh` installs uv).
const NOTEBOOK_PACKAGES: &[&str] = &["ipykernel==7.4.0", "nbclient==0.11.0", "nbformat==5.11.1"];

/// A venv of the Debian CPython with ipykernel and nbclient, made once (uv) and kept in
/// the target directory.
fn notebook_venv() -> &'static Path {
    static VENV: OnceLock<PathBuf> = OnceLock::new();
    VENV.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("notebook-venv");
        let lock = fs::File::create(dir.with_extension("lock")).unwrap();
        lock.lock().unwrap();
        let stamp = dir.join("pyk-test-ready");
        let want = NOTEBOOK_PACKAGES.join(" ");
        if fs::read_to_string(&stamp).ok().as_deref() != Some(&want) {
            let _ = fs::remove_dir_all(&dir);
            ok(Command::new("uv")
                .args(["venv", "-q", "--python", SYSTEM_PYTHON])
                .arg(&dir));
            ok(Command::new("uv")
                .args(["pip", "install", "-q", "--python"])
                .arg(dir.join("bin/python"))
                .args(NOTEBOOK_PACKAGES));
            fs::write(&stamp, want).unwrap();
        }
        dir
    })
}

/// Executes a notebook in a real kernel; prints each code cell's stdout, `---` between.
const RUN_NOTEBOOK: &str = r#"
import sys, nbformat, nbclient
cells = sys.stdin.read().split("\n# --- cell\n")
nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
nbclient.NotebookClient(nb, timeout=120, kernel_name="python3").execute()
for cell in nb.cells:
    text = "".join(o.get("text", "") for o in cell.outputs if o.get("name") == "stdout")
    errors = [o for o in cell.outputs if o.output_type == "error"]
    assert not errors, errors
    print(text, end="")
    print("---")
"#;

#[test]
fn a_notebook_imports_a_published_library_and_checks_once() {
    let (_dir, server) = server();
    let lib = project(&[
        ("pyk.toml", "name = \"teamlib\"\nlib = \"teamlib\"\n"),
        (
            "teamlib/__init__.py",
            "\"\"\"Team helpers.\"\"\"\n\n\ndef greet(name: str, *, excited: bool = False) -> str:\n    \"\"\"Say hello.\"\"\"\n    return 'hello ' + name + ('!' if excited else '')\n",
        ),
        ("teamlib/sub.py", "VALUE = 42\n"),
    ]);
    publish(&server, lib.path());
    let client = Client::new(&server);
    let venv = notebook_venv();
    let kernel_python = venv.join("bin/python");
    let said = ok(client
        .pyk()
        .args(["python-setup", "--python"])
        .arg(&kernel_python));
    assert!(said.contains(&venv.display().to_string()), "{said}");

    // Every run of the pyk binary by the hook, logged.
    let log = client.home.path().join("resolves.log");
    let wrapper = client.home.path().join("pyk-logged");
    fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\necho \"$*\" >> '{}'\nexec '{}' \"$@\"\n",
            log.display(),
            env!("CARGO_BIN_EXE_pyk")
        ),
    )
    .unwrap();
    fs::set_permissions(&wrapper, fs::Permissions::from_mode(0o755)).unwrap();

    let cells = [
        "from pyk import teamlib\nprint(teamlib.greet('notebook'))",
        "from pyk import teamlib\nprint(teamlib.greet('again', excited=True))",
        // A reload of the hook, then submodules and a reload of the library.
        "import importlib, pyk\nimportlib.reload(pyk)\nfrom pyk.teamlib import greet\nimport pyk.teamlib.sub as sub\nimportlib.reload(teamlib)\nprint(greet('reloaded'), sub.VALUE)",
        "import inspect\nprint(inspect.signature(teamlib.greet))\nprint(inspect.getdoc(teamlib.greet))",
    ];
    let mut cmd = Command::new(&kernel_python);
    client.env(&mut cmd);
    cmd.env("PYK_BIN", &wrapper).args(["-c", RUN_NOTEBOOK]);
    let out = with_stdin(&mut cmd, &cells.join("\n# --- cell\n"));
    assert_eq!(
        out,
        "hello notebook\n---\nhello again!\n---\nhello reloaded 42\n---\n(name: str, *, excited: bool = False) -> str\nSay hello.\n---\n"
    );
    let calls = fs::read_to_string(&log).unwrap();
    assert_eq!(
        calls, "resolve lib teamlib --python 3.11 --hold\n",
        "{calls}"
    );
}
