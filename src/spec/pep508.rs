//! PEP 508 requirement strings (`name[extras] versions ; marker`, or `name @ URL`), parsed
//! to check them where they are written and to read a requirement's name, versions and
//! whether a marker limits it; the installer reads the strings themselves. The versions are
//! pep440_rs's. pep508_rs, which did this before, brought the regex crate (for `${VAR}`s in
//! URLs), whose Unicode tables were ~40% of the data the loader relocates at every start of
//! pyk: a warm `pyk foo` took ~0.25 ms longer with them (README, "Warm runs").

use std::str::FromStr;

use pep440_rs::VersionSpecifiers;

/// What pyk reads of a requirement (its extras and URL are checked, and left to the
/// installer).
#[derive(Debug)]
pub struct Requirement<'a> {
    pub name: &'a str,
    /// The versions allowed (`None`: any, or a URL's).
    pub versions: Option<VersionSpecifiers>,
    /// The environment marker, as written (`None`: every environment).
    pub marker: Option<&'a str>,
}

/// `text` parsed, or what is wrong with it, where.
pub fn parse(text: &str) -> Result<Requirement<'_>, String> {
    let mut c = Cursor { text, pos: 0 };
    c.space();
    let name = c.identifier().ok_or_else(|| c.expected("a package name"))?;
    c.space();
    if c.eat("[") {
        c.extras()?;
        c.space();
    }
    let mut versions = None;
    if c.eat("@") {
        c.url()?;
    } else if c.eat("(") {
        versions = Some(c.versions(')')?);
        if !c.eat(")") {
            return Err(c.expected("`)`"));
        }
    } else if c.rest().starts_with(['<', '>', '=', '!', '~']) {
        versions = Some(c.versions(';')?);
    }
    c.space();
    let mut marker = None;
    if c.eat(";") {
        c.space();
        let start = c.pos;
        c.marker_or()?;
        marker = Some(text[start..c.pos].trim_end());
        c.space();
    }
    if !c.rest().is_empty() {
        return Err(c.expected("the end of the requirement"));
    }
    Ok(Requirement {
        name,
        versions,
        marker,
    })
}

/// The variables a marker may compare (PEP 508, and the older dotted spellings that
/// setuptools and pip still accept).
const MARKER_VARIABLES: &[&str] = &[
    "python_version",
    "python_full_version",
    "os_name",
    "sys_platform",
    "platform_release",
    "platform_system",
    "platform_version",
    "platform_machine",
    "platform_python_implementation",
    "implementation_name",
    "implementation_version",
    "extra",
    "dependency_groups",
    "extras",
    "os.name",
    "sys.platform",
    "platform.version",
    "platform.machine",
    "platform.python_implementation",
    "python_implementation",
];

/// Comparisons, longest first so that `<=` is not read as `<`.
const MARKER_OPERATORS: &[&str] = &["===", "<=", ">=", "==", "!=", "~=", "<", ">", "in"];

struct Cursor<'a> {
    text: &'a str,
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn rest(&self) -> &'a str {
        &self.text[self.pos..]
    }

    fn eat(&mut self, s: &str) -> bool {
        let found = self.rest().starts_with(s);
        if found {
            self.pos += s.len();
        }
        found
    }

    fn take_while(&mut self, f: impl Fn(char) -> bool) -> &'a str {
        let rest = self.rest();
        let end = rest.find(|ch| !f(ch)).unwrap_or(rest.len());
        self.pos += end;
        &rest[..end]
    }

    /// Skips whitespace; how much there was.
    fn space(&mut self) -> usize {
        self.take_while(char::is_whitespace).len()
    }

    /// The column (from 1, in characters) of byte offset `at`.
    fn column(&self, at: usize) -> usize {
        self.text[..at].chars().count() + 1
    }

    /// "expected WHAT at column N, found `…`" (or "…, found the end").
    fn expected(&self, what: &str) -> String {
        let column = self.column(self.pos);
        match self.rest() {
            "" => format!("expected {what} at column {column}, found the end"),
            rest => format!("expected {what} at column {column}, found `{rest}`"),
        }
    }

    /// A name or an extra: ASCII letters and digits, with `.`, `_` and `-` inside.
    fn identifier(&mut self) -> Option<&'a str> {
        let id = self.take_while(|ch| ch.is_ascii_alphanumeric() || matches!(ch, '.' | '_' | '-'));
        let ends = |ch: Option<char>| ch.is_some_and(|ch| ch.is_ascii_alphanumeric());
        if ends(id.chars().next()) && ends(id.chars().last()) {
            Some(id)
        } else {
            self.pos -= id.len();
            None
        }
    }

    /// The extras after `[`, through `]`.
    fn extras(&mut self) -> Result<(), String> {
        self.space();
        if self.eat("]") {
            return Ok(());
        }
        loop {
            self.identifier()
                .ok_or_else(|| self.expected("an extra's name"))?;
            self.space();
            if self.eat("]") {
                return Ok(());
            }
            if !self.eat(",") {
                return Err(self.expected("`,` or `]`"));
            }
            self.space();
        }
    }

    /// A direct reference's URL after `@`: a URL with a scheme must parse; a path, or a
    /// URL with `${VAR}`s in it, is the installer's to read.
    fn url(&mut self) -> Result<(), String> {
        self.space();
        let start = self.pos;
        let at = self.take_while(|ch| !ch.is_whitespace());
        if at.is_empty() {
            return Err(self.expected("a URL"));
        }
        if at.contains("://") && !at.contains("${") {
            url::Url::parse(at)
                .map_err(|e| format!("URL `{at}` at column {}: {e}", self.column(start)))?;
        }
        // A URL may hold `;`: one before a marker is set apart by whitespace.
        if !self.rest().is_empty() && self.space() == 0 {
            return Err(self.expected("whitespace after the URL"));
        }
        Ok(())
    }

    /// Version specifiers up to `end` (or a marker's `;`, or the end of the text).
    fn versions(&mut self, end: char) -> Result<VersionSpecifiers, String> {
        let start = self.pos;
        let spec = self.take_while(|ch| ch != end && ch != ';');
        VersionSpecifiers::from_str(spec.trim()).map_err(|e| {
            let column = self.column(start);
            // pep440_rs underlines the spot on the lines after its message.
            let e = e.to_string();
            let why = e.lines().next().unwrap_or_default().trim_end_matches(':');
            format!("versions `{}` at column {column}: {why}", spec.trim())
        })
    }

    fn marker_or(&mut self) -> Result<(), String> {
        self.marker_and()?;
        while self.keyword("or") {
            self.marker_and()?;
        }
        Ok(())
    }

    fn marker_and(&mut self) -> Result<(), String> {
        self.marker_expr()?;
        while self.keyword("and") {
            self.marker_expr()?;
        }
        Ok(())
    }

    /// `and`/`or` as a word of its own (PEP 508 needs no whitespace around it after a
    /// quoted string or before a parenthesis); the cursor stays put otherwise.
    fn keyword(&mut self, word: &str) -> bool {
        let start = self.pos;
        self.space();
        if self.eat(word)
            && self
                .rest()
                .starts_with(|ch: char| ch.is_whitespace() || "('\"".contains(ch))
        {
            self.space();
            return true;
        }
        self.pos = start;
        false
    }

    fn marker_expr(&mut self) -> Result<(), String> {
        if self.eat("(") {
            self.space();
            self.marker_or()?;
            self.space();
            if !self.eat(")") {
                return Err(self.expected("`)`"));
            }
            return Ok(());
        }
        self.marker_value()?;
        self.space();
        let op = MARKER_OPERATORS
            .iter()
            .find(|op| self.rest().starts_with(**op));
        match op {
            Some(op) => self.pos += op.len(),
            None if self.eat("not") && self.space() > 0 && self.eat("in") => {}
            None => return Err(self.expected("a comparison (`==`, `>=`, `in`…)")),
        }
        self.space();
        self.marker_value()
    }

    /// A quoted string or a marker variable.
    fn marker_value(&mut self) -> Result<(), String> {
        for quote in ['"', '\''] {
            if self.rest().starts_with(quote) {
                let start = self.pos;
                self.pos += 1;
                self.take_while(|ch| ch != quote);
                if !self.eat(&quote.to_string()) {
                    self.pos = start;
                    return Err(self.expected(&format!("a closing {quote}")));
                }
                return Ok(());
            }
        }
        let name = self.take_while(|ch| ch.is_ascii_alphanumeric() || matches!(ch, '_' | '.'));
        if MARKER_VARIABLES.contains(&name) {
            return Ok(());
        }
        self.pos -= name.len();
        Err(self
            .expected("a marker variable (`python_version`, `sys_platform`…) or a quoted string"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Requirements as projects write them, each parsed as pep508_rs parses it.
    const VALID: &[&str] = &[
        "click",
        "click>=8",
        "Click >= 8.0, < 9",
        "requests[socks,security]>=2.31 ; python_version >= '3.8'",
        "requests [ socks ] (>=2.0,<3)",
        "numpy==1.26.*",
        "zope.interface~=6.0",
        "typing-extensions; python_version < \"3.11\" and platform_system != 'Windows'",
        "pywin32>=306 ; sys_platform == 'win32' or (os_name == \"nt\" and extra == 'win')",
        "uvloop ; 'linux' in sys_platform",
        "colorama ; platform_system not in 'Linux Darwin'",
        "pkg @ https://example.com/pkg-1.0-py3-none-any.whl",
        "pkg[extra] @ file:///wheels/pkg-1.0-py3-none-any.whl ; python_version >= '3.8'",
        "pkg @ https://example.com/a;b.whl",
        "a",
        "a_b.c-d===1.0",
        "six!=1.0",
        "dataclasses; python_version<'3.7'",
        "pkg ; python_version >= '3.8' and (sys_platform == 'linux' or sys_platform == 'darwin')",
        "pkg ; (python_version >= '3.8')",
        "pkg==1.0.0+local",
        "pkg>=1.0a1",
        "pkg ; implementation_name == 'cpython'",
        "pkg ; python_version in '2.7 3.6'",
        "pkg ; os.name == 'posix'",
        "pkg[]",
        "pkg (>=1)",
        "Django>=4.2,<5.0",
        "black[d,jupyter]==24.1.0",
        "  pkg  ",
        "pkg ; python_version>'3'and sys_platform=='linux'",
        "pkg;python_version<'3.8'",
    ];

    const INVALID: &[&str] = &[
        "",
        "clik>=>8",
        ">=1.0",
        "-pkg",
        "pkg-",
        "pkg[",
        "pkg[a,]",
        "pkg[a b]",
        "pkg @",
        "pkg (>=1.0",
        "pkg >= 1.0 garbage",
        "pkg ; ",
        "pkg ; python_version",
        "pkg ; python_version >= '3.8",
        "pkg ; python_versio >= '3.8'",
        "pkg ; python_version >= '3.8' and",
        "pkg ; (python_version >= '3.8'",
        "pkg ; python_version >= '3.8' or or",
        "pkg ; python_version >= '3.8')",
        "pkg >= 1 @ https://x",
        "pkg @ https://x;python_version>'3'",
        "pkg ; python_version >= 3.8",
        "pkg ; foo == 'x'",
        "pkg==",
        "pkg~=1",
        "pkg ; python_version >= '3.8' garbage",
        "pkg[a]]",
        "pkg ; python_version>'3' andsys_platform=='linux'",
        "pkg ; python_version>'3' and",
    ];

    #[test]
    fn agrees_with_pep508_rs() {
        use pep508_rs::{Requirement as Theirs, VerbatimUrl};
        for (text, valid) in VALID
            .iter()
            .map(|t| (t, true))
            .chain(INVALID.iter().map(|t| (t, false)))
        {
            let ours = parse(text);
            let theirs = Theirs::<VerbatimUrl>::from_str(text);
            assert_eq!(
                ours.is_ok(),
                theirs.is_ok(),
                "{text:?}: {ours:?} / {theirs:?}"
            );
            assert_eq!(ours.is_ok(), valid, "{text:?}: {ours:?}");
            let (Ok(ours), Ok(theirs)) = (ours, theirs) else {
                continue;
            };
            assert_eq!(
                crate::spec::normalize(ours.name),
                theirs.name.as_ref(),
                "{text:?}"
            );
            assert_eq!(ours.marker.is_none(), theirs.marker.is_true(), "{text:?}");
            match theirs.version_or_url {
                Some(pep508_rs::VersionOrUrl::VersionSpecifier(v)) => {
                    assert_eq!(
                        ours.versions.unwrap().to_string(),
                        v.to_string(),
                        "{text:?}"
                    )
                }
                _ => assert!(ours.versions.is_none(), "{text:?}"),
            }
        }
    }

    /// PEP 508's grammar (and pip's parser) take `and`/`or` without whitespace around
    /// them between parentheses, where pep508_rs asks for it.
    #[test]
    fn or_between_parentheses_needs_no_space() {
        let req = parse("pkg ; (os_name=='nt')or(os_name=='posix')").unwrap();
        assert_eq!(req.marker, Some("(os_name=='nt')or(os_name=='posix')"));
    }

    #[test]
    fn a_bad_requirement_says_where() {
        assert_eq!(
            parse("pkg ; python_versio >= '3.8'").unwrap_err(),
            "expected a marker variable (`python_version`, `sys_platform`…) or a quoted \
             string at column 7, found `python_versio >= '3.8'`"
        );
        assert_eq!(
            parse("pkg[a").unwrap_err(),
            "expected `,` or `]` at column 6, found the end"
        );
        assert!(parse("clik>=>8")
            .unwrap_err()
            .starts_with("versions `>=>8` at column 5: "));
        let url = parse("pkg @ https://example.com/a;b.whl ; os_name == 'nt'").unwrap();
        assert_eq!(url.marker, Some("os_name == 'nt'"));
    }
}
