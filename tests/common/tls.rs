//! HTTPS in front of a test repository: a certificate authority that exists only in the
//! files a test generates (openssl's CLI), and a real TLS terminator (Python's `ssl`,
//! that is OpenSSL) on 127.0.0.1 relaying to the plain `pyk serve` behind it.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use super::SYSTEM_PYTHON;

/// A CA of the test's own and a server certificate it issued for 127.0.0.1 and
/// localhost, as PEM files in `dir`.
pub struct TestCa {
    /// The CA certificate (the bundle a client must be given).
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl TestCa {
    pub fn new(dir: &Path) -> TestCa {
        let openssl = |args: &[&str]| {
            let out = Command::new("openssl")
                .args(args)
                .current_dir(dir)
                .output()
                .expect("openssl (scripts/setup.sh installs it)");
            assert!(
                out.status.success(),
                "openssl {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        };
        let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"];
        let days = ["-days", "2"];
        openssl(
            &[
                &[
                    "req", "-x509", "-nodes", "-keyout", "ca.key", "-out", "ca.pem",
                ][..],
                &ec,
                &days,
                &["-subj", "/CN=pyk test CA"],
                &["-addext", "basicConstraints=critical,CA:TRUE"],
                &["-addext", "keyUsage=critical,keyCertSign,cRLSign"],
            ]
            .concat(),
        );
        openssl(
            &[
                &[
                    "req",
                    "-new",
                    "-nodes",
                    "-keyout",
                    "server.key",
                    "-out",
                    "server.csr",
                ][..],
                &ec,
                &["-subj", "/CN=localhost"],
            ]
            .concat(),
        );
        std::fs::write(
            dir.join("server.ext"),
            "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n\
             keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n",
        )
        .unwrap();
        openssl(
            &[
                &[
                    "x509",
                    "-req",
                    "-in",
                    "server.csr",
                    "-CA",
                    "ca.pem",
                    "-CAkey",
                    "ca.key",
                ][..],
                &[
                    "-CAcreateserial",
                    "-out",
                    "server.pem",
                    "-extfile",
                    "server.ext",
                ],
                &days,
            ]
            .concat(),
        );
        TestCa {
            ca: dir.join("ca.pem"),
            cert: dir.join("server.pem"),
            key: dir.join("server.key"),
        }
    }
}

/// Accepts TLS connections and relays each, both ways, to the upstream address.
const TERMINATOR: &str = r#"
import socket, ssl, sys, threading
cert, key, host, port = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(cert, key)
listener = socket.create_server(("127.0.0.1", 0))
print(listener.getsockname()[1], flush=True)

def pipe(src, dst):
    try:
        while data := src.recv(65536):
            dst.sendall(data)
    except OSError:
        pass
    for s in (src, dst):
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

def serve(conn):
    try:
        tls = ctx.wrap_socket(conn, server_side=True)
    except (ssl.SSLError, OSError):
        conn.close()
        return
    up = socket.create_connection((host, port))
    threading.Thread(target=pipe, args=(up, tls), daemon=True).start()
    pipe(tls, up)

while True:
    conn, _ = listener.accept()
    threading.Thread(target=serve, args=(conn,), daemon=True).start()
"#;

/// A TLS terminator on 127.0.0.1 in front of `upstream` (`http://127.0.0.1:PORT`),
/// killed when dropped.
pub struct Terminator {
    child: Child,
    /// `https://127.0.0.1:PORT`.
    pub url: String,
}

impl Terminator {
    pub fn start(ca: &TestCa, upstream: &str) -> Terminator {
        let (host, port) = upstream
            .trim_start_matches("http://")
            .rsplit_once(':')
            .unwrap();
        let mut child = Command::new(SYSTEM_PYTHON)
            .args(["-c", TERMINATOR])
            .args([&ca.cert, &ca.key])
            .args([host, port])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        Terminator {
            child,
            url: format!("https://127.0.0.1:{}", line.trim()),
        }
    }
}

impl Drop for Terminator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
