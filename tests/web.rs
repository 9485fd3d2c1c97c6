//! Issue 24 against a real `pyk serve`: `pyk ui` driven in Debian's chromium by
//! playwright-core (tests/web/ui.mjs), and `pyk info --diff` on the same two versions of a
//! signed library. Skipped, saying so, when chromium or the pinned playwright-core
//! (`npm ci` in tests/web, from scripts/setup.sh) is absent.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use common::repo::{publish_with, Client, Server};
use common::*;

const CHROMIUM: &str = "/usr/bin/chromium";

/// Version 1 of the library.
const GEO_1: &str = r#""""Geometry for teams."""


def distance(a, b, scale=1.0):
    """Distance between two points."""
    return scale


def old(x):
    """Goes away in 2."""
    return x


class Point:
    """A point."""

    def __init__(self, x: float, y: float = 0.0):
        self.x, self.y = x, y

    def norm(self, p: int = 2) -> float:
        """Its length."""
        return 0.0
"#;

/// Version 2: `distance` takes `scale` by keyword only, with another default, and a new
/// parameter; `old` is gone, `midpoint` is new, `Point`'s docstring changed.
const GEO_2: &str = r#""""Geometry for teams."""


def distance(a, b, *, scale=2.0, exact: bool = False):
    """Distance between two points."""
    return scale


def midpoint(a, b):
    """Halfway."""
    return a


class Point:
    """A point in the plane."""

    def __init__(self, x: float, y: float = 0.0):
        self.x, self.y = x, y

    def norm(self, p: int = 2) -> float:
        """Its length."""
        return 0.0
"#;

fn geo(core: &str) -> tempfile::TempDir {
    project(&[
        (
            "pyk.toml",
            "name = \"geo\"\nlib = \"geo\"\ndependencies = [\"PyYAML>=6\"]\n",
        ),
        (
            "geo/__init__.py",
            "\"\"\"Geometry.\"\"\"\nfrom .core import Point, distance\n",
        ),
        ("geo/core.py", core),
    ])
}

/// The node script and its pinned playwright-core, if installed (else why not).
fn browser() -> Result<PathBuf, String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/web");
    if !Path::new(CHROMIUM).is_file() {
        return Err(format!(
            "{CHROMIUM} is absent (scripts/setup.sh installs Debian's chromium)"
        ));
    }
    if !dir.join("node_modules/playwright-core").is_dir() {
        return Err(format!(
            "playwright-core is not installed in {} (scripts/setup.sh runs `npm ci` there)",
            dir.display()
        ));
    }
    Ok(dir.join("ui.mjs"))
}

/// A `pyk ui` process on a free port, killed when dropped.
struct Viewer {
    child: Child,
    url: String,
}

impl Viewer {
    fn start(mut cmd: Command) -> Viewer {
        let mut child = cmd
            .args(["ui", "--port", "0", "--no-browser"])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let mut first = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut first)
            .unwrap();
        let url = first
            .split_whitespace()
            .find(|w| w.starts_with("http://127.0.0.1:"))
            .unwrap_or_else(|| panic!("pyk ui printed no address: {first:?}"))
            .to_owned();
        Viewer { child, url }
    }

    /// A raw GET with this `Host` header: the status line.
    fn status_for_host(&self, host: &str) -> String {
        let addr = self.url.trim_start_matches("http://").trim_end_matches('/');
        let mut stream = TcpStream::connect(addr).unwrap();
        write!(
            stream,
            "GET /api/packages HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut reply = String::new();
        stream.read_to_string(&mut reply).unwrap();
        reply.lines().next().unwrap_or("").to_owned()
    }
}

impl Drop for Viewer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn screenshots() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("web");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs the browser script in `mode` against `url`; panics with its output if it fails.
fn drive(script: &Path, url: &str, mode: &[&str]) -> String {
    let out = run(Command::new("node")
        .arg(script)
        .arg(url)
        .arg(screenshots())
        .args(mode)
        .current_dir(script.parent().unwrap()));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "the browser script failed:\n{text}");
    text
}

#[test]
fn the_page_and_the_terminal_show_what_changed() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("pyk.db"), 0);
    let v1 = geo(GEO_1);
    publish_with(&server, v1.path(), &["--version", "1"]);
    let v2 = geo(GEO_2);
    publish_with(&server, v2.path(), &["--version", "2"]);
    publish_with(&server, repo::app("hello").path(), &["--version", "1"]);
    let client = Client::new(&server);

    // The terminal's difference.
    let text = ok(client
        .pyk()
        .args(["info", "--lib", "geo", "--diff", "1", "2"]));
    for line in [
        "lib geo 1 → 2",
        "~ function geo.core.distance",
        "    was (a, b, scale=1.0)",
        "    now (a, b, *, scale=2.0, exact: bool = False)",
        "    parameters added: exact",
        "    scale is now keyword-only (was positional or keyword)",
        "    default of scale: 1.0 → 2.0",
        "- function geo.core.old(x)",
        "+ function geo.core.midpoint(a, b)",
        "~ class geo.core.Point: docstring",
        "    was A point.",
        "    now A point in the plane.",
    ] {
        assert!(text.lines().any(|l| l == line), "no {line:?} in:\n{text}");
    }
    assert!(
        !text.contains("norm"),
        "an unchanged method listed:\n{text}"
    );
    let json: serde_json::Value = serde_json::from_str(&ok(client
        .pyk()
        .args(["info", "--lib", "geo", "--diff", "1", "2", "--json"])))
    .unwrap();
    assert_eq!(
        (json["from"].as_str(), json["to"].as_str()),
        (Some("1"), Some("2"))
    );
    let changes = json["changes"].as_array().unwrap();
    let distance = changes
        .iter()
        .find(|c| c["path"] == "geo.core.distance" && c["change"] == "signature")
        .unwrap();
    assert_eq!(
        distance["parameters"]["added"],
        serde_json::json!(["exact"])
    );
    assert_eq!(distance["parameters"]["defaults"][0]["after"], "2.0");
    assert!(changes
        .iter()
        .any(|c| c["path"] == "geo.core.old" && c["change"] == "removed"));
    let err = fails(
        client
            .pyk()
            .args(["info", "--lib", "geo", "--diff", "1", "9"]),
    );
    assert!(err.contains('9'), "{err}");

    let script = match browser() {
        Ok(script) => script,
        Err(why) => {
            eprintln!("SKIPPED the browser half of this test: {why}");
            return;
        }
    };

    // The page, against the real repository, version 1 yanked (still served by version).
    ok(client.pyk().args(["yank", "--lib", "geo", "1"]));
    let viewer = Viewer::start(client.pyk());
    assert!(viewer.status_for_host("evil.example:80").contains(" 403 "));
    assert!(viewer
        .status_for_host(
            viewer
                .url
                .trim_start_matches("http://")
                .trim_end_matches('/')
        )
        .contains(" 200 "));
    let said = drive(&script, &viewer.url, &["full"]);
    eprintln!("{said}");

    // A wrong key, and a repository that is down: one clear line each.
    let mut wrong = client.pyk();
    wrong.env("PYK_KEY", "not the repository's passphrase");
    let viewer = Viewer::start(wrong);
    eprintln!(
        "{}",
        drive(&script, &viewer.url, &["error", "wrong-key", "key"])
    );
    let mut down = client.pyk();
    down.env("PYK_SERVER", "http://127.0.0.1:9");
    let viewer = Viewer::start(down);
    eprintln!(
        "{}",
        drive(&script, &viewer.url, &["error", "down", "127.0.0.1:9"])
    );
    drop(server);
}
