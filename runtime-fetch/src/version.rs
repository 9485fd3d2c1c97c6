//! Python version requests ("3.12", "3.12.4") and exact versions of a runtime.

use std::fmt;
use std::str::FromStr;

use crate::FetchError;

/// The minors pyk supports; older ones lack `compileall -s/-p`, newer ones are untested.
pub const SUPPORTED_MINORS: std::ops::RangeInclusive<u8> = 9..=14;

/// What the user asked for: a minor version, optionally pinned to a patch release.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PythonRequest {
    pub major: u8,
    pub minor: u8,
    pub patch: Option<u8>,
}

/// The exact version of a runtime.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PyVersion {
    pub major: u8,
    pub minor: u8,
    pub patch: u8,
}

impl PythonRequest {
    pub fn matches(&self, v: &PyVersion) -> bool {
        self.major == v.major && self.minor == v.minor && self.patch.is_none_or(|p| p == v.patch)
    }
}

impl Default for PythonRequest {
    /// 3.13: two years out, every major wheel publisher ships it; 3.14 (one year out) still
    /// misses wheels for some packages with compiled extensions.
    fn default() -> Self {
        PythonRequest {
            major: 3,
            minor: 13,
            patch: None,
        }
    }
}

fn invalid(input: &str, reason: &str) -> FetchError {
    FetchError::InvalidRequest {
        input: input.to_string(),
        reason: reason.to_string(),
    }
}

fn parse_parts(s: &str) -> Result<Vec<u8>, FetchError> {
    let s = s.trim();
    if s.is_empty() {
        return Err(invalid(s, "empty; expected e.g. 3.12 or 3.12.4"));
    }
    s.split('.')
        .map(|part| {
            if part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) {
                return Err(invalid(s, "expected numbers like 3.12 or 3.12.4"));
            }
            part.parse::<u8>()
                .map_err(|_| invalid(s, "version component out of range"))
        })
        .collect()
}

impl FromStr for PythonRequest {
    type Err = FetchError;

    fn from_str(s: &str) -> Result<Self, FetchError> {
        let parts = parse_parts(s)?;
        let (major, minor, patch) = match parts[..] {
            [major, minor] => (major, minor, None),
            [major, minor, patch] => (major, minor, Some(patch)),
            [_] => return Err(invalid(s, "give at least major.minor, e.g. 3.12")),
            _ => return Err(invalid(s, "expected major.minor or major.minor.patch")),
        };
        if major != 3 || !SUPPORTED_MINORS.contains(&minor) {
            return Err(invalid(s, "only Python 3.9 to 3.14 are supported"));
        }
        Ok(PythonRequest {
            major,
            minor,
            patch,
        })
    }
}

impl FromStr for PyVersion {
    type Err = FetchError;

    fn from_str(s: &str) -> Result<Self, FetchError> {
        match parse_parts(s)?[..] {
            [major, minor, patch] => Ok(PyVersion {
                major,
                minor,
                patch,
            }),
            _ => Err(invalid(s, "expected major.minor.patch")),
        }
    }
}

impl fmt::Display for PythonRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.patch {
            Some(p) => write!(f, "{}.{}.{}", self.major, self.minor, p),
            None => write!(f, "{}.{}", self.major, self.minor),
        }
    }
}

impl fmt::Display for PyVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_minor_and_patch() {
        let r: PythonRequest = "3.12".parse().unwrap();
        assert_eq!((r.major, r.minor, r.patch), (3, 12, None));
        let r: PythonRequest = " 3.9.20 ".parse().unwrap();
        assert_eq!((r.major, r.minor, r.patch), (3, 9, Some(20)));
        assert_eq!(r.to_string(), "3.9.20");
    }

    #[test]
    fn rejects_bad_requests_with_clear_messages() {
        for (input, needle) in [
            ("3", "at least major.minor"),
            ("abc", "expected numbers"),
            ("2.7", "3.9 to 3.14"),
            ("3.8", "3.9 to 3.14"),
            ("3.15", "3.9 to 3.14"),
            ("3.12.4.1", "major.minor or major.minor.patch"),
            ("3.12.999", "out of range"),
            ("", "empty"),
            ("3..1", "expected numbers"),
        ] {
            let err = input.parse::<PythonRequest>().unwrap_err().to_string();
            assert!(err.contains(needle), "{input:?}: {err}");
            assert!(!err.contains('\n'));
        }
    }

    #[test]
    fn matching_and_display() {
        let v: PyVersion = "3.11.2".parse().unwrap();
        assert_eq!(v.to_string(), "3.11.2");
        assert!("3.11".parse::<PythonRequest>().unwrap().matches(&v));
        assert!("3.11.2".parse::<PythonRequest>().unwrap().matches(&v));
        assert!(!"3.11.3".parse::<PythonRequest>().unwrap().matches(&v));
        assert!(!"3.12".parse::<PythonRequest>().unwrap().matches(&v));
    }
}
