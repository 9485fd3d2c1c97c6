//! PEP 723 comment blocks in a script: `# /// script` (dependencies, requires-python) and
//! pyk's own `# /// pyk` (the keys of pyk.toml).

use std::path::Path;

use anyhow::{bail, Result};
use serde::Deserialize;
use toml::Spanned;

use super::source::Source;

/// The `# /// script` block's keys (PEP 723). `tool` is other tools' business.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ScriptBlock {
    #[serde(default)]
    pub dependencies: Vec<Spanned<String>>,
    pub requires_python: Option<Spanned<String>>,
    /// Accepted (and left alone) so a script written for other tools reads.
    #[serde(rename = "tool")]
    _tool: Option<serde::de::IgnoredAny>,
}

/// Finds the `# /// KIND` block of a script, as PEP 723's reference regex does: the block
/// runs over consecutive comment lines (`#` or `# …`) and ends at the last `# ///` among
/// them. Two blocks of one kind are an error, and so is an opening line with no end.
pub fn block(path: &Path, text: &str, kind: &str) -> Result<Option<Source>> {
    let lines: Vec<&str> = text.lines().map(str::trim_end).collect();
    let open = format!("# /// {kind}");
    let mut found: Option<Source> = None;
    let mut i = 0;
    while i < lines.len() {
        if lines[i] != open {
            i += 1;
            continue;
        }
        let opened_at = i + 1;
        let run = lines[i + 1..]
            .iter()
            .take_while(|l| **l == "#" || l.starts_with("# "))
            .count();
        let Some(close) = lines[i + 1..i + 1 + run]
            .iter()
            .rposition(|l| *l == "# ///")
            .map(|p| i + 1 + p)
        else {
            bail!(
                "{}:{opened_at}: the `{open}` block has no closing `# ///` line",
                path.display()
            );
        };
        if found.is_some() {
            bail!(
                "{}:{opened_at}: a second `{open}` block (PEP 723 allows one of each kind)",
                path.display()
            );
        }
        let body = &lines[i + 1..close];
        if let Some(nested) = body.iter().position(|l| {
            l.strip_prefix("# /// ").is_some_and(|k| {
                !k.is_empty() && k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            })
        }) {
            bail!(
                "{}:{}: the `{open}` block runs into another block: end it with `# ///` and put a line that is not a comment (e.g. an empty one) between blocks",
                path.display(),
                i + 2 + nested
            );
        }
        let mut content = String::new();
        for line in body {
            content.push_str(line.strip_prefix("# ").unwrap_or(""));
            content.push('\n');
        }
        found = Some(Source::block(path, kind, content, i + 2));
        i = close + 1;
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn find(text: &str, kind: &str) -> Result<Option<(String, usize)>> {
        Ok(block(Path::new("t.py"), text, kind)?.map(|s| {
            let first = s.at(&(0..0));
            let line = first.rsplit(':').next().unwrap().parse().unwrap();
            (s.parse::<toml::Table>().unwrap().to_string(), line)
        }))
    }

    #[test]
    fn finds_blocks_as_pep_723_does() {
        let text = "#!/usr/bin/env python3\n# /// script\n# dependencies = [\n#   \"rich\",\n# ]\n#\n# ///\n\nprint(1)\n";
        let (body, line) = find(text, "script").unwrap().unwrap();
        assert_eq!(line, 3);
        assert!(body.contains("rich"), "{body}");
        assert!(find(text, "pyk").unwrap().is_none());
        // The block ends at the last `# ///` of its comment run (PEP 723's example).
        let text = "# /// script\n# s = \"\"\"\n# /// <summary>\n# ///\n# \"\"\"\n# ///\nx = 1\n";
        let (body, _) = find(text, "script").unwrap().unwrap();
        assert!(body.contains("<summary>"), "{body}");
    }

    #[test]
    fn malformed_blocks_are_errors() {
        let e = find("# /// script\n# a = 1\nprint()\n", "script").unwrap_err();
        assert!(e.to_string().contains("t.py:1") && e.to_string().contains("closing"));
        let two = "# /// script\n# ///\n\n# /// script\n# ///\n";
        assert!(find(two, "script")
            .unwrap_err()
            .to_string()
            .contains("t.py:4"));
        let adjacent = "# /// pyk\n# name = \"t\"\n# ///\n# /// script\n# ///\n";
        let e = find(adjacent, "pyk").unwrap_err().to_string();
        assert!(e.contains("t.py:4") && e.contains("runs into"), "{e}");
    }
}
