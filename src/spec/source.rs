//! A declaration file's text, so every error can name the file, the line and the key.
//!
//! A [`Source`] is a whole file (pyk.toml, pyproject.toml) or a PEP 723 comment block of a
//! script; for a block, spans are counted from the block's first body line.

use std::fmt::Display;
use std::ops::Range;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, Error, Result};
use serde::de::DeserializeOwned;

pub struct Source {
    pub path: PathBuf,
    /// What `path:LINE:` is followed by, e.g. "in the `# /// script` block: ".
    within: String,
    text: String,
    /// The file line of the text's first line.
    first_line: usize,
}

impl Source {
    pub fn file(path: &Path, text: String) -> Source {
        Source {
            path: path.to_path_buf(),
            within: String::new(),
            text,
            first_line: 1,
        }
    }

    /// A comment block whose body starts on `first_line` of `path`.
    pub fn block(path: &Path, kind: &str, text: String, first_line: usize) -> Source {
        Source {
            path: path.to_path_buf(),
            within: format!("in the `# /// {kind}` block: "),
            text,
            first_line,
        }
    }

    /// The directory relative paths in this file resolve against.
    pub fn dir(&self) -> &Path {
        self.path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."))
    }

    /// `path:LINE` for a byte span of the text.
    pub fn at(&self, span: &Range<usize>) -> String {
        format!("{}:{}", self.path.display(), self.line(span.start))
    }

    /// An error `path:LINE: [in the block: ]message`.
    pub fn error(&self, span: &Range<usize>, message: impl Display) -> Error {
        anyhow!("{}: {}{message}", self.at(span), self.within)
    }

    /// An error about the whole file, `path: [in the block: ]message`.
    pub fn error_whole(&self, message: impl Display) -> Error {
        anyhow!("{}: {}{message}", self.path.display(), self.within)
    }

    pub fn parse<T: DeserializeOwned>(&self) -> Result<T> {
        toml::from_str(&self.text).map_err(|e| {
            let message = e.message().trim().replace('\n', " ");
            match e.span() {
                Some(span) => self.error(&span, message),
                None => self.error_whole(message),
            }
        })
    }

    fn line(&self, byte: usize) -> usize {
        let before = &self.text.as_bytes()[..byte.min(self.text.len())];
        self.first_line + before.iter().filter(|&&b| b == b'\n').count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_count_from_the_block_start() {
        let src = Source::block(Path::new("t.py"), "script", "a = 1\nb = [\n".into(), 5);
        assert_eq!(src.at(&(6..7)), "t.py:6");
        let e = src.parse::<toml::Table>().unwrap_err().to_string();
        assert!(
            e.starts_with("t.py:6: in the `# /// script` block: "),
            "{e}"
        );
        assert!(!e.contains('\n'), "{e}");
    }
}
