//! The SBOM every build writes (`pyk inspect --sbom`, `--licenses`): an app with numpy on
//! the Debian runtime, checked against the CycloneDX 1.6 schema by a real validator
//! (`cyclonedx-python-lib[json-validation]`, installed by scripts/setup.sh), against PyPI's
//! own record of the wheel's sha256 (its simple index, PEP 691), and against the artifact's layers.

mod common;

use std::process::Command;

use common::*;

/// The validator, and PyPI's sha256 of the file the SBOM says numpy came from: one Python
/// run that prints `valid` and the digest, or why not.
const CHECK: &str = r##"
import json, sys, urllib.request
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator
text = open(sys.argv[1]).read()
errors = JsonStrictValidator(SchemaVersion.V1_6).validate_str(text)
print("valid" if errors is None else f"invalid: {errors}")
bom = json.loads(text)
numpy = next(c for c in bom["components"] if c["name"] == "numpy")
url = numpy["externalReferences"][0]["url"]
name = url.rsplit("/", 1)[1].split("#")[0]
req = urllib.request.Request("https://pypi.org/simple/numpy/",
                             headers={"Accept": "application/vnd.pypi.simple.v1+json"})
with urllib.request.urlopen(req, timeout=60) as r:
    files = json.load(r)["files"]
print(next(f["hashes"]["sha256"] for f in files if f["filename"] == name))
"##;

fn has_validator() -> bool {
    let found = Command::new("python3")
        .args(["-c", "import cyclonedx.validation.json, jsonschema"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        eprintln!(
            "skipped: no cyclonedx-python-lib[json-validation] for python3 (scripts/setup.sh installs it)"
        );
    }
    found
}

#[test]
fn numpy_app_sbom_validates_and_names_the_wheel_and_its_openblas() {
    if !has_validator() {
        return;
    }
    // A cache of its own: the runtime's Debian packages are recorded when it is imported.
    let cache = tempfile::tempdir().unwrap();
    let pyk = || {
        let mut cmd = pyk();
        cmd.env("PYK_CACHE_DIR", cache.path());
        cmd
    };
    ok(pyk().args(["runtime", "import", SYSTEM_PYTHON]));
    let dir = project(&[
        (
            "pyk.toml",
            "name = \"npsbom\"\nrun = \"main.py\"\ndependencies = [\"numpy==2.1.3\"]\n",
        ),
        ("main.py", "import numpy\nprint(numpy.__version__)\n"),
    ]);
    ok(pyk()
        .current_dir(dir.path())
        .args(["build", "--python", PY]));
    let artifact = dir.path().join("dist/npsbom");

    let text = ok(pyk().args(["inspect", "--sbom"]).arg(&artifact));
    let sbom_file = dir.path().join("sbom.json");
    std::fs::write(&sbom_file, &text).unwrap();
    let checked = ok(Command::new("python3").args(["-c", CHECK]).arg(&sbom_file));
    let mut lines = checked.lines();
    assert_eq!(lines.next(), Some("valid"), "{checked}");
    let pypi_sha = lines.next().unwrap().to_owned();

    let bom: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(bom["specVersion"], "1.6");
    assert_eq!(bom["metadata"]["component"]["name"], "npsbom");
    assert_eq!(bom["metadata"]["timestamp"], "2023-11-14T22:13:20Z");
    let components = bom["components"].as_array().unwrap();
    let numpy = components.iter().find(|c| c["name"] == "numpy").unwrap();
    assert_eq!(numpy["version"], "2.1.3");
    assert_eq!(numpy["purl"], "pkg:pypi/numpy@2.1.3");
    assert_eq!(numpy["hashes"][0]["alg"], "SHA-256");
    assert_eq!(numpy["hashes"][0]["content"], pypi_sha.as_str());
    let openblas = numpy["components"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"].as_str().unwrap().contains("openblas"))
        .expect("numpy's vendored openblas");
    let path = property(openblas, "pyk:path").unwrap();
    assert!(path.starts_with("deps/numpy.libs/"), "{path}");

    // The runtime: Debian's CPython, with the libraries bundled from the machine.
    let runtime = components.iter().find(|c| c["name"] == "cpython").unwrap();
    let version = ok(Command::new(SYSTEM_PYTHON)
        .args(["-c", "import platform; print(platform.python_version())"]));
    assert_eq!(runtime["version"], version.trim());
    assert_eq!(
        property(runtime, "pyk:debian-package").as_deref(),
        Some("python3.11-minimal")
    );
    let libz = runtime["components"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "libz.so.1")
        .expect("the bundled zlib");
    assert_eq!(
        property(libz, "pyk:debian-package").as_deref(),
        Some("zlib1g")
    );
    assert!(libz["purl"]
        .as_str()
        .unwrap()
        .starts_with("pkg:deb/debian/zlib1g@"));

    // Every path the SBOM gives for a licence text or a vendored library is in the layers.
    let listing = layer_listing(&artifact);
    let texts: Vec<String> = properties(numpy, "pyk:license-file");
    assert!(!texts.is_empty(), "numpy's licence texts");
    for p in texts.iter().chain([&path]) {
        let in_deps = format!("deps {}", p.strip_prefix("deps/").unwrap());
        assert!(
            listing.lines().any(|l| l == in_deps),
            "{p} not in the deps layer"
        );
    }
    let licenses = ok(pyk().args(["inspect", "--licenses"]).arg(&artifact));
    let line = licenses
        .lines()
        .find(|l| l.starts_with("numpy "))
        .unwrap_or_else(|| panic!("{licenses}"));
    assert!(line.contains(&texts[0]), "{line}");
    assert!(licenses.contains("PSF-2.0"), "{licenses}");

    // Deterministic: the same build again gives the same SBOM.
    ok(pyk()
        .current_dir(dir.path())
        .args(["build", "--python", PY]));
    assert_eq!(ok(pyk().args(["inspect", "--sbom"]).arg(&artifact)), text);
}

fn properties(c: &serde_json::Value, name: &str) -> Vec<String> {
    c["properties"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|p| p["name"] == name)
        .map(|p| p["value"].as_str().unwrap().to_owned())
        .collect()
}

fn property(c: &serde_json::Value, name: &str) -> Option<String> {
    properties(c, name).into_iter().next()
}

#[test]
fn an_artifact_without_an_sbom_says_so_in_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("x");
    std::fs::write(&file, b"not an artifact").unwrap();
    let err = fails(pyk().args(["inspect", "--sbom"]).arg(&file));
    assert_eq!(err.trim().lines().count(), 1, "{err}");
}

/// A runtime shaken for the app (`--strip-stdlib`) leaves out the libraries only
/// left-out modules load: the SBOM lists exactly the libraries the embedded layer holds.
#[test]
fn a_shaken_runtimes_sbom_lists_only_the_libraries_it_holds() {
    let dir = project(&[
        (
            "pyk.toml",
            "name = \"shaken\"\nrun = \"main.py\"\nstrip_stdlib = true\n",
        ),
        ("main.py", "print('hi')\n"),
    ]);
    let artifact = build(dir.path(), "shaken", &[]);
    let bom: serde_json::Value =
        serde_json::from_str(&ok(pyk().args(["inspect", "--sbom"]).arg(&artifact))).unwrap();
    let runtime = bom["components"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "cpython")
        .unwrap();
    let listed: Vec<String> = runtime["components"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| property(c, "pyk:path").unwrap())
        .collect();

    let bytes = std::fs::read(&artifact).unwrap();
    let trailer =
        pyk_artifact::trailer::Trailer::read(&std::fs::File::open(&artifact).unwrap()).unwrap();
    let layer = &trailer.layers[0];
    let tar =
        zstd::decode_all(&bytes[layer.span.offset as usize..layer.span.end() as usize]).unwrap();
    let mut held: Vec<String> = tar::Archive::new(&tar[..])
        .entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().display().to_string())
        .filter(|p| p.starts_with("lib/") && p.contains(".so") && p.matches('/').count() == 1)
        .map(|p| format!("runtime/{p}"))
        .collect();
    held.sort();
    assert_eq!(listed, held);
}

/// The SBOM is the artifact's `sbom` part, outside the layers (so a pure-Python app layer
/// is the same bytes on every platform): a byte changed in it is refused by `pyk inspect`,
/// in one line, by the sha256 the trailer records.
#[test]
fn a_tampered_sbom_part_is_refused() {
    let dir = project(&[
        ("pyk.toml", "name = \"tampered\"\nrun = \"main.py\"\n"),
        ("main.py", "print('hi')\n"),
    ]);
    let artifact = build(dir.path(), "tampered", &[]);
    let file = std::fs::File::open(&artifact).unwrap();
    let trailer = pyk_artifact::trailer::Trailer::read(&file).unwrap();
    let part = trailer.part(pyk_artifact::trailer::PART_SBOM).unwrap();
    assert_eq!(trailer.launcher_len(), part.span.offset);
    assert_eq!(part.span.end(), trailer.head_len());
    let text = ok(pyk().args(["inspect", "--sbom"]).arg(&artifact));
    assert!(text.contains("\"CycloneDX\""), "{text}");

    let mut bytes = std::fs::read(&artifact).unwrap();
    let at = (part.span.offset + part.span.len / 2) as usize;
    bytes[at] ^= 0x20;
    let forged = dir.path().join("forged");
    std::fs::write(&forged, &bytes).unwrap();
    let err = fails(pyk().args(["inspect", "--sbom"]).arg(&forged));
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("sbom part is damaged"), "{err}");

    // A hand-made trailer calling the launcher's bytes the SBOM, hash and all: nothing of
    // them is printed.
    let bytes = std::fs::read(&artifact).unwrap();
    let old_len = trailer.encode().unwrap().len();
    let mut made = trailer.clone();
    let head = trailer.head_len();
    made.parts[0].span = pyk_artifact::trailer::Span {
        offset: 0,
        len: head,
    };
    made.parts[0].sha256 = pyk_protocol::Sha256::of(&bytes[..head as usize]);
    let mut out = bytes[..bytes.len() - old_len].to_vec();
    out.extend(made.encode().unwrap());
    std::fs::write(&forged, out).unwrap();
    let run = pyk()
        .args(["inspect", "--sbom"])
        .arg(&forged)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&run.stderr);
    assert!(!run.status.success() && run.stdout.is_empty(), "{err}");
    assert!(
        err.trim()
            .ends_with("its SBOM is not JSON: expected value at line 1 column 1"),
        "{err}"
    );
}

/// `pyk inspect --sbom NAME`: a published version's SBOM, read from its first blob, is the
/// built file's; that blob changed on the server is refused in one line, nothing printed.
#[test]
fn a_published_versions_sbom_and_a_tampered_first_blob() {
    let (store, server) = common::repo::server();
    let dir = project(&[
        ("pyk.toml", "name = \"sbomsrv\"\nrun = \"main.py\"\n"),
        ("main.py", "print('hi')\n"),
    ]);
    common::repo::publish(&server, dir.path());
    let built = dir.path().join("dist/sbomsrv");
    let local = ok(pyk().args(["inspect", "--sbom"]).arg(&built));
    let machine = common::repo::Client::new(&server);
    assert_eq!(
        ok(machine.pyk().args(["inspect", "--sbom", "sbomsrv"])),
        local
    );

    // The stored first blob (`blobs/ab/abcd…`, the launcher and the SBOM), one byte changed.
    let bytes = std::fs::read(&built).unwrap();
    let trailer =
        pyk_artifact::trailer::Trailer::read(&std::fs::File::open(&built).unwrap()).unwrap();
    let head = pyk_protocol::Sha256::of(&bytes[..trailer.head_len() as usize]).to_string();
    let found = ok(Command::new("find")
        .arg(store.path())
        .args(["-name", &head]));
    let stored = found.lines().next().expect("the first blob is stored");
    let mut blob = std::fs::read(stored).unwrap();
    let middle = blob.len() / 2;
    blob[middle] ^= 1;
    std::fs::write(stored, blob).unwrap();
    let other = common::repo::Client::new(&server);
    let out = other
        .pyk()
        .args(["inspect", "--sbom", "sbomsrv"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && out.stdout.is_empty(), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
}
