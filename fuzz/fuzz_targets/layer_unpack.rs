//! The layer unpacker: a layer (zstd-compressed tar) comes from a server or a file, and
//! is unpacked into the cache. Any input must unpack or be refused without a panic, and
//! nothing may land outside the destination (`..`, absolute paths, links that escape).
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use pyk_artifact::unpack::unpack_tar_zst;

fuzz_target!(|data: &[u8]| {
    let outer = tempfile::tempdir().unwrap();
    let dest = outer.path().join("dest");
    std::fs::create_dir(&dest).unwrap();
    let _ = unpack_tar_zst(data, &dest);
    // Whatever happened, `outer` holds `dest` and nothing else.
    let entries: Vec<_> = std::fs::read_dir(outer.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(entries, [Path::new("dest").as_os_str()]);
});
