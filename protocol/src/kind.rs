//! The two package namespaces: a program and a library may share a name.

use std::fmt;
use std::str::FromStr;

/// What `./foo` (and `pyk foo`) does with a package; also the repository's two package
/// namespaces, written `run` and `lib` in trailers, URLs and JSON.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(rename_all = "lowercase")
)]
pub enum Kind {
    /// A program: its entry runs as `__main__`.
    Run,
    /// A library: imported with `from pyk import foo`; running it runs its main block.
    Lib,
}

impl Kind {
    /// `"run"` or `"lib"`, exactly (no other case).
    pub fn parse(s: &str) -> Option<Kind> {
        match s {
            "run" => Some(Kind::Run),
            "lib" => Some(Kind::Lib),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Run => "run",
            Kind::Lib => "lib",
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// Why a string is not a [`Kind`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseKindError(pub String);

impl fmt::Display for ParseKindError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "kind must be run or lib, not {:?}", self.0)
    }
}

impl std::error::Error for ParseKindError {}

impl FromStr for Kind {
    type Err = ParseKindError;

    fn from_str(s: &str) -> Result<Kind, ParseKindError> {
        Kind::parse(s).ok_or_else(|| ParseKindError(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spelled_one_way() {
        assert_eq!(Kind::parse("run"), Some(Kind::Run));
        assert_eq!(Kind::parse("Run"), None);
        assert_eq!("lib".parse::<Kind>(), Ok(Kind::Lib));
        assert_eq!(format!("{:<4}|", Kind::Run), "run |");
    }

    #[cfg(feature = "serde")]
    #[test]
    fn serde_is_the_word() {
        assert_eq!(serde_json::to_string(&Kind::Lib).unwrap(), "\"lib\"");
        assert!(serde_json::from_str::<Kind>("\"LIB\"").is_err());
    }
}
