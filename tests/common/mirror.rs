//! A python-build-standalone mirror: a real HTTP server (`python3 -m http.server`) over a
//! directory laid out like PBS's GitHub releases, `{release}/{asset}` and
//! `{release}/SHA256SUMS`.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

/// The server, killed on drop.
pub struct Mirror {
    child: Child,
    pub url: String,
}

impl Mirror {
    pub fn serve(dir: &Path) -> Mirror {
        let mut child = Command::new("/usr/bin/python3")
            .args(["-u", "-m", "http.server", "--bind", "127.0.0.1", "0"])
            .arg("--directory")
            .arg(dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        // "Serving HTTP on 127.0.0.1 port 40123 (http://127.0.0.1:40123/) ..."
        let port = line
            .split_whitespace()
            .skip_while(|w| *w != "port")
            .nth(1)
            .unwrap_or_else(|| panic!("unexpected http.server output {line:?}"))
            .to_owned();
        Mirror {
            child,
            url: format!("http://127.0.0.1:{port}"),
        }
    }
}

impl Drop for Mirror {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Puts `archive` in `dir` as `release`'s `asset`, with a SHA256SUMS line saying `sha256`.
pub fn publish(dir: &Path, release: &str, asset: &str, archive: &Path, sha256: &str) {
    let release_dir = dir.join(release);
    std::fs::create_dir_all(&release_dir).unwrap();
    std::fs::copy(archive, release_dir.join(asset)).unwrap();
    std::fs::write(
        release_dir.join("SHA256SUMS"),
        format!("{}  other.tar.gz\n{sha256}  {asset}\n", "1".repeat(64)),
    )
    .unwrap();
}
