//! What `--json` prints: one JSON object on stdout, for tools, whose `format` key is the
//! version of its shape (docs/formats.md, "Machine-readable output"). A key is only ever
//! added within a format; renaming or removing one makes a new format.

use anyhow::Result;
use serde_json::Value;

/// The shape of every object below, as first documented.
pub const FORMAT: u32 = 1;

/// Prints `fields` (an object) with `format` first; a reader that stops early is not an
/// error.
pub fn print(fields: Value) -> Result<()> {
    let mut object = serde_json::Map::new();
    object.insert("format".into(), FORMAT.into());
    if let Value::Object(fields) = fields {
        object.extend(fields);
    }
    let text = serde_json::to_string_pretty(&Value::Object(object))?;
    match std::io::Write::write_all(
        &mut std::io::stdout().lock(),
        format!("{text}\n").as_bytes(),
    ) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
        _ => Ok(()),
    }
}

/// Unix seconds of `time` (0 before 1970).
pub fn unix(time: std::time::SystemTime) -> u64 {
    time.duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
