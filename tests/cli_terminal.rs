//! pyk in a terminal, driven as a person would drive it: keys sent to a bash in tmux, the
//! screen read back. A runtime import and a build with their progress shown, a published
//! program's `--help` through its installed launcher, a typo's suggestion, completions
//! loaded into bash and completing a subcommand on Tab.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::repo::*;
use common::*;

/// A tmux server of its own (its own socket), running one bash, killed when dropped.
struct Terminal {
    socket: String,
}

impl Terminal {
    fn start(rc: &Path) -> Terminal {
        let socket = format!("pyk-test-{}", std::process::id());
        let term = Terminal { socket };
        let bash = format!("bash --noprofile --rcfile {}", rc.display());
        let status = term
            .tmux()
            .args([
                "-f",
                "/dev/null",
                "new-session",
                "-d",
                "-x",
                "200",
                "-y",
                "60",
            ])
            .arg(bash)
            .status()
            .expect("tmux is installed by scripts/setup.sh");
        assert!(status.success());
        term.wait_for("the prompt", |screen| screen.contains("pyk-test$"));
        term
    }

    fn tmux(&self) -> Command {
        let mut cmd = Command::new("tmux");
        cmd.args(["-L", &self.socket]);
        cmd
    }

    /// Types `keys` (tmux key names, e.g. "Enter", "Tab", "C-u").
    fn keys(&self, keys: &[&str]) {
        let status = self.tmux().arg("send-keys").args(keys).status().unwrap();
        assert!(status.success());
    }

    /// Types a command line and presses Enter.
    fn type_line(&self, line: &str) {
        self.keys(&["-l", line]);
        self.keys(&["Enter"]);
    }

    /// What the screen and its scrollback show.
    fn screen(&self) -> String {
        let out = self
            .tmux()
            .args(["capture-pane", "-p", "-J", "-S", "-2000"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Waits until the screen satisfies `done` (a generous limit: the machine is shared).
    fn wait_for(&self, what: &str, done: impl Fn(&str) -> bool) -> String {
        let start = Instant::now();
        loop {
            let screen = self.screen();
            if done(&screen) {
                return screen;
            }
            assert!(
                start.elapsed() < Duration::from_secs(300),
                "waited for {what}; the screen shows:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Types `line`, waits for the command to end (`done N` with its exit status), and
    /// returns what it printed.
    fn run(&self, line: &str) -> (String, i32) {
        let before = self.screen().matches("\ndone ").count();
        self.type_line(&format!("{line}; echo done $?"));
        let screen = self.wait_for(line, |s| s.matches("\ndone ").count() > before);
        let start = screen.rfind(line).unwrap();
        let end = screen.rfind("\ndone ").unwrap();
        let status = screen[end + 6..]
            .split_whitespace()
            .next()
            .unwrap()
            .parse()
            .unwrap();
        (screen[start + line.len()..end].to_owned(), status)
    }
}

impl Drop for Terminal {
    fn drop(&mut self) {
        let _ = self.tmux().arg("kill-server").status();
    }
}

/// A bash startup file: the client machine's environment, PATH with pyk and the
/// launchers' directory first, and a plain prompt.
fn rc_file(dir: &Path, client: &Client, bin: &Path) -> PathBuf {
    let cmd = client.pyk();
    let mut rc = String::from("PS1='pyk-test$ '\nunset PROMPT_COMMAND\n");
    for (key, value) in cmd.get_envs() {
        let key = key.to_string_lossy();
        match value {
            Some(v) => rc.push_str(&format!("export {key}={}\n", quote(&v.to_string_lossy()))),
            None => rc.push_str(&format!("unset {key}\n")),
        }
    }
    let pyk_dir = Path::new(env!("CARGO_BIN_EXE_pyk")).parent().unwrap();
    rc.push_str(&format!(
        "export PATH={}:{}:/usr/bin:/bin\n",
        quote(&bin.display().to_string()),
        quote(&pyk_dir.display().to_string())
    ));
    let path = dir.join("bashrc");
    fs::write(&path, rc).unwrap();
    path
}

fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

#[test]
fn a_person_at_a_terminal() {
    let (dir, server) = server();
    let app = project(&[
        ("pyk.toml", "name = \"greet\"\nrun = \"greet.py\"\n"),
        (
            "greet.py",
            "import argparse\np = argparse.ArgumentParser(description='Greets.')\np.add_argument('-q', '--quiet', action='store_true', help='say less')\np.add_argument('name')\na = p.parse_args()\nprint('hi' if a.quiet else 'hello', a.name)\n",
        ),
    ]);
    publish(&server, app.path());
    let client = Client::new(&server);
    let bin = dir.path().join("bin");
    fs::create_dir_all(&bin).unwrap();
    let term = Terminal::start(&rc_file(dir.path(), &client, &bin));

    // A runtime import into an empty cache: its spinner is on the screen while it works.
    let fresh = dir.path().join("fresh-cache");
    term.type_line(&format!(
        "PYK_CACHE_DIR={} PYK_ZSTD_LEVEL=3 pyk runtime import {SYSTEM_PYTHON}; echo done $?",
        fresh.display()
    ));
    let spinning = |s: &str| {
        s.lines().any(|l| {
            let l = l.trim_end();
            l.contains("compressing") && l.ends_with('s') && !l.contains("zstd level")
        })
    };
    term.wait_for("the spinner", spinning);
    let screen = term.wait_for("the import", |s| s.contains("\ndone "));
    assert!(screen.contains("\ndone 0"), "{screen}");
    assert!(
        screen.contains("imported from /usr/bin/python3.11"),
        "{screen}"
    );

    // A build, as a person sees it: each step on its own line.
    let (shown, status) = term.run(&format!(
        "cd {} && PYK_CACHE_DIR={} pyk build --python {PY}",
        app.path().display(),
        fresh.display()
    ));
    assert_eq!(status, 0, "{shown}");
    assert!(
        shown.contains("Runtime: Python 3.11") && shown.contains("Built "),
        "{shown}"
    );

    // The installed launcher is the program: --help is its own, with its own name.
    let (shown, status) = term.run(&format!("pyk install greet {}", bin.display()));
    assert_eq!(status, 0, "{shown}");
    let (shown, status) = term.run("greet --help");
    assert_eq!(status, 0, "{shown}");
    assert!(
        shown.contains("usage: greet [-h] [-q] name") && shown.contains("Greets."),
        "{shown}"
    );
    let (shown, _) = term.run("greet -q world");
    assert!(shown.contains("hi world"), "{shown}");

    // A typo.
    let (shown, status) = term.run("pyk biuld");
    assert_eq!(status, 1);
    assert!(shown.contains("did you mean `pyk build`?"), "{shown}");

    // Completions, loaded into this bash: registered, and Tab completes a subcommand.
    let (shown, status) = term.run("source <(pyk completions bash) && complete -p pyk");
    assert_eq!(status, 0, "{shown}");
    assert!(shown.contains("-F _pyk pyk"), "{shown}");
    term.keys(&["-l", "pyk publ"]);
    term.keys(&["Tab"]);
    term.wait_for("the completion", |s| {
        s.lines().any(|l| l.trim_end() == "pyk-test$ pyk publish")
    });
    term.keys(&["C-u"]);
    term.keys(&["-l", "pyk runtime im"]);
    term.keys(&["Tab"]);
    term.wait_for("the nested completion", |s| {
        s.lines()
            .any(|l| l.trim_end() == "pyk-test$ pyk runtime import")
    });
    term.keys(&["C-u"]);
}
