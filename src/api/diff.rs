//! What changed in a library's API between two versions: modules, functions and classes
//! added or removed, signatures changed (parameters added, removed, reordered, moved to
//! another kind, defaults changed) and docstrings' first lines changed. `pyk info --diff`
//! prints it and `pyk ui` shows it; both compare two [`Api`] trees through here.

use std::collections::BTreeMap;
use std::fmt::Write;

use serde::Serialize;

use super::tree::{Api, Class, Function};

/// The changes from one tree to another, sorted by dotted path.
#[derive(Debug, Serialize)]
pub struct Diff {
    pub changes: Vec<Change>,
}

/// One change to one definition (a definition whose signature and docstring both changed
/// has two).
#[derive(Debug, Serialize, PartialEq)]
pub struct Change {
    /// Dotted path: `geo.core.Point.norm`.
    pub path: String,
    /// `module`, `function`, `method`, `property`, `class`.
    pub item: &'static str,
    /// `added`, `removed`, `signature` or `doc`.
    pub change: &'static str,
    /// The signature (or the docstring's first line, for `doc`) before, if there was one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub before: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub after: Option<String>,
    /// For `signature`: what happened to the parameters.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parameters: Option<Parameters>,
}

/// How a signature's parameters changed. Empty when only annotations or the return type did.
#[derive(Debug, Default, Serialize, PartialEq)]
pub struct Parameters {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub added: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub removed: Vec<String>,
    /// The parameters both have are in another order.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub reordered: bool,
    /// A parameter that became keyword-only, positional-only, … (`name`, before, after).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub kinds: Vec<Moved>,
    /// A default that changed, appeared or went (`None`: no default).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub defaults: Vec<Moved>,
}

#[derive(Debug, Serialize, PartialEq)]
pub struct Moved {
    pub name: String,
    pub before: Option<String>,
    pub after: Option<String>,
}

/// One definition as the diff compares it.
struct Item {
    item: &'static str,
    signature: Option<String>,
    doc: Option<String>,
}

/// The changes from `before` to `after`.
pub fn diff(before: &Api, after: &Api) -> Diff {
    let (old, new) = (items(before), items(after));
    let mut changes = Vec::new();
    for (path, o) in &old {
        let Some(n) = new.get(path) else {
            changes.push(Change {
                path: path.clone(),
                item: o.item,
                change: "removed",
                before: o.signature.clone(),
                after: None,
                parameters: None,
            });
            continue;
        };
        if o.signature != n.signature {
            let parameters = match (&o.signature, &n.signature) {
                (Some(a), Some(b)) => Some(parameters(a, b)),
                _ => None,
            };
            changes.push(Change {
                path: path.clone(),
                item: n.item,
                change: "signature",
                before: o.signature.clone(),
                after: n.signature.clone(),
                parameters,
            });
        }
        if o.doc != n.doc {
            changes.push(Change {
                path: path.clone(),
                item: n.item,
                change: "doc",
                before: o.doc.clone(),
                after: n.doc.clone(),
                parameters: None,
            });
        }
    }
    for (path, n) in &new {
        if !old.contains_key(path) {
            changes.push(Change {
                path: path.clone(),
                item: n.item,
                change: "added",
                before: None,
                after: n.signature.clone(),
                parameters: None,
            });
        }
    }
    changes.sort_by(|a, b| a.path.cmp(&b.path));
    Diff { changes }
}

/// Every module, function, method and class of `api`, by dotted path.
fn items(api: &Api) -> BTreeMap<String, Item> {
    let mut out = BTreeMap::new();
    for m in &api.modules {
        out.insert(
            m.name.clone(),
            Item {
                item: "module",
                signature: None,
                doc: m.doc.clone(),
            },
        );
        for f in &m.functions {
            function(&mut out, &m.name, f, "function");
        }
        for c in &m.classes {
            class(&mut out, &m.name, c);
        }
    }
    out
}

fn function(out: &mut BTreeMap<String, Item>, prefix: &str, f: &Function, item: &'static str) {
    let item = match f.kind.as_deref() {
        Some("property") => "property",
        _ => item,
    };
    out.insert(
        format!("{prefix}.{}", f.name),
        Item {
            item,
            signature: Some(f.signature.clone()),
            doc: f.doc.clone(),
        },
    );
}

fn class(out: &mut BTreeMap<String, Item>, prefix: &str, c: &Class) {
    let path = format!("{prefix}.{}", c.name);
    for m in &c.methods {
        function(out, &path, m, "method");
    }
    for inner in &c.classes {
        class(out, &path, inner);
    }
    out.insert(
        path,
        Item {
            item: "class",
            signature: c.signature.clone(),
            doc: c.doc.clone(),
        },
    );
}

/// A parameter as the signature writes it.
#[derive(Debug, PartialEq)]
struct Param {
    name: String,
    kind: &'static str,
    default: Option<String>,
}

fn parameters(before: &str, after: &str) -> Parameters {
    let (old, new) = (params(before), params(after));
    let find = |list: &[Param], name: &str| list.iter().position(|p| p.name == name);
    // The names only one side has, in that side's order.
    let only = |list: &[Param], other: &[Param]| -> Vec<String> {
        list.iter()
            .filter(|p| find(other, &p.name).is_none())
            .map(|p| p.name.clone())
            .collect()
    };
    let kept = |list: &[Param], other: &[Param]| -> Vec<String> {
        list.iter()
            .filter(|p| find(other, &p.name).is_some())
            .map(|p| p.name.clone())
            .collect()
    };
    let mut out = Parameters {
        added: only(&new, &old),
        removed: only(&old, &new),
        reordered: kept(&old, &new) != kept(&new, &old),
        ..Parameters::default()
    };
    for o in &old {
        let Some(n) = find(&new, &o.name).map(|i| &new[i]) else {
            continue;
        };
        if o.kind != n.kind {
            out.kinds.push(Moved {
                name: o.name.clone(),
                before: Some(o.kind.into()),
                after: Some(n.kind.into()),
            });
        }
        if o.default != n.default {
            out.defaults.push(Moved {
                name: o.name.clone(),
                before: o.default.clone(),
                after: n.default.clone(),
            });
        }
    }
    out
}

/// The parameters of `(a: int, /, b=2, *, c: str = 'x', **kw) -> bool`, each with its
/// kind; `self`/`cls` are kept (a method that loses one changed how it is called).
fn params(signature: &str) -> Vec<Param> {
    let inner = signature.strip_prefix('(').unwrap_or(signature);
    let inner = &inner[..close_of(inner).unwrap_or(inner.len())];
    let parts = split_top(inner);
    // Everything before `/` was positional-only.
    let slash = parts.iter().position(|p| p.trim() == "/");
    let mut kind = "positional or keyword";
    let mut out = Vec::new();
    for (i, part) in parts.iter().enumerate() {
        let part = part.trim();
        match part {
            "" | "/" => continue,
            "*" => {
                kind = "keyword-only";
                continue;
            }
            _ => {}
        }
        let (head, default) = match split_default(part) {
            Some((head, default)) => (head, Some(default.trim().to_owned())),
            None => (part, None),
        };
        let head = head.split_once(':').map_or(head, |(n, _)| n).trim();
        let (name, this_kind) = if let Some(n) = head.strip_prefix("**") {
            (n, "**kwargs")
        } else if let Some(n) = head.strip_prefix('*') {
            kind = "keyword-only";
            (n, "*args")
        } else if slash.is_some_and(|s| i < s) {
            (head, "positional-only")
        } else {
            (head, kind)
        };
        out.push(Param {
            name: name.to_owned(),
            kind: this_kind,
            default,
        });
    }
    out
}

/// Each character of `text` outside string literals, with the depth of the brackets opened
/// in `text` before it.
fn unquoted(text: &str) -> impl Iterator<Item = (usize, char, usize)> + '_ {
    let (mut depth, mut quote, mut escaped) = (0usize, None, false);
    text.char_indices().filter_map(move |(i, c)| {
        if let Some(q) = quote {
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                c if c == q => quote = None,
                _ => {}
            }
            return None;
        }
        let before = depth;
        match c {
            '\'' | '"' => {
                quote = Some(c);
                return None;
            }
            '(' | '[' | '{' => depth += 1,
            ')' | ']' | '}' => depth = depth.saturating_sub(1),
            _ => {}
        }
        Some((i, c, before))
    })
}

fn is_bracket(c: char) -> bool {
    matches!(c, '(' | '[' | '{' | ')' | ']' | '}')
}

/// Where the bracket that `text` is inside closes (text starts after the opening one).
fn close_of(text: &str) -> Option<usize> {
    unquoted(text)
        .find(|&(_, c, depth)| matches!(c, ')' | ']' | '}') && depth == 0)
        .map(|(i, ..)| i)
}

/// `text` split at its commas outside brackets and strings.
fn split_top(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    for i in top_positions(text) {
        if text.as_bytes()[i] == b',' {
            out.push(&text[start..i]);
            start = i + 1;
        }
    }
    out.push(&text[start..]);
    out
}

/// `name: T = default` or `name=default` split at its top-level `=` (not `==`, `<=`…).
fn split_default(part: &str) -> Option<(&str, &str)> {
    let bytes = part.as_bytes();
    let at = top_positions(part).into_iter().find(|&i| {
        bytes[i] == b'='
            && bytes.get(i + 1) != Some(&b'=')
            && !matches!(
                i.checked_sub(1).map(|j| bytes[j]),
                Some(b'=' | b'<' | b'>' | b'!')
            )
    })?;
    Some((&part[..at], &part[at + 1..]))
}

/// The byte offsets of `text`'s characters that are outside brackets and strings.
fn top_positions(text: &str) -> Vec<usize> {
    unquoted(text)
        .filter(|&(_, c, depth)| depth == 0 && !is_bracket(c))
        .map(|(i, ..)| i)
        .collect()
}

impl Diff {
    /// As text, one line a change (`+` added, `-` removed, `~` changed), a changed
    /// signature's old and new forms and what happened to its parameters under it.
    pub fn render(&self) -> String {
        let mut out = String::new();
        if self.changes.is_empty() {
            out.push_str("no API change\n");
        }
        for c in &self.changes {
            let sig = |s: &Option<String>| s.clone().unwrap_or_default();
            match c.change {
                "added" => {
                    let _ = writeln!(out, "+ {} {}{}", c.item, c.path, sig(&c.after));
                }
                "removed" => {
                    let _ = writeln!(out, "- {} {}{}", c.item, c.path, sig(&c.before));
                }
                "signature" => {
                    let _ = writeln!(out, "~ {} {}", c.item, c.path);
                    let _ = writeln!(out, "    was {}", sig(&c.before));
                    let _ = writeln!(out, "    now {}", sig(&c.after));
                    if let Some(p) = &c.parameters {
                        for line in p.describe() {
                            let _ = writeln!(out, "    {line}");
                        }
                    }
                }
                _ => {
                    let _ = writeln!(out, "~ {} {}: docstring", c.item, c.path);
                    let _ = writeln!(out, "    was {}", c.before.as_deref().unwrap_or("(none)"));
                    let _ = writeln!(out, "    now {}", c.after.as_deref().unwrap_or("(none)"));
                }
            }
        }
        out
    }
}

impl Parameters {
    /// One line per kind of change, as the text and the page say it.
    pub fn describe(&self) -> Vec<String> {
        let mut out = Vec::new();
        if !self.added.is_empty() {
            out.push(format!("parameters added: {}", self.added.join(", ")));
        }
        if !self.removed.is_empty() {
            out.push(format!("parameters removed: {}", self.removed.join(", ")));
        }
        if self.reordered {
            out.push("parameters reordered".to_owned());
        }
        for k in &self.kinds {
            out.push(format!(
                "{} is now {} (was {})",
                k.name,
                k.after.as_deref().unwrap_or("?"),
                k.before.as_deref().unwrap_or("?")
            ));
        }
        for d in &self.defaults {
            let shown = |v: &Option<String>| v.clone().unwrap_or_else(|| "no default".into());
            out.push(format!(
                "default of {}: {} → {}",
                d.name,
                shown(&d.before),
                shown(&d.after)
            ));
        }
        if out.is_empty() {
            out.push("annotations or return type changed".to_owned());
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn brackets_and_strings_are_skipped() {
        let text = r#"a=(1, ")"), b={'x': [2]}, c='\'', d=f(g(h)) ) -> int"#;
        let close = close_of(text).unwrap();
        assert_eq!(&text[close..], ") -> int");
        let parts: Vec<&str> = split_top(&text[..close]).iter().map(|p| p.trim()).collect();
        assert_eq!(
            parts,
            [r#"a=(1, ")")"#, "b={'x': [2]}", r"c='\''", "d=f(g(h))"]
        );
    }

    fn names(sig: &str) -> Vec<(String, &'static str, Option<String>)> {
        params(sig)
            .into_iter()
            .map(|p| (p.name, p.kind, p.default))
            .collect()
    }

    #[test]
    fn parameters_are_read_with_their_kinds_and_defaults() {
        let got = names("(a: dict[str, int] = {'x,': 1}, /, b=2, *, c: str = 'x=y', **kw) -> bool");
        assert_eq!(
            got,
            vec![
                ("a".into(), "positional-only", Some("{'x,': 1}".to_owned())),
                ("b".into(), "positional or keyword", Some("2".into())),
                ("c".into(), "keyword-only", Some("'x=y'".into())),
                ("kw".into(), "**kwargs", None),
            ]
        );
        assert_eq!(
            names("(self, *args, key=None)")
                .into_iter()
                .map(|p| p.1)
                .collect::<Vec<_>>(),
            ["positional or keyword", "*args", "keyword-only"]
        );
        assert_eq!(names("(x=a == b)")[0].2.as_deref(), Some("a == b"));
    }

    #[test]
    fn changes_name_what_happened_to_the_parameters() {
        let p = parameters("(a, b, c=1, *, d=2)", "(b, a, c=3, e=0, *, d=2)");
        assert_eq!(p.added, ["e"]);
        assert!(p.removed.is_empty());
        assert!(p.reordered);
        assert_eq!(
            p.defaults,
            [Moved {
                name: "c".into(),
                before: Some("1".into()),
                after: Some("3".into())
            }]
        );
        let p = parameters("(a, b)", "(a, *, b)");
        assert_eq!(p.kinds[0].after.as_deref(), Some("keyword-only"));
        assert_eq!(
            parameters("(a: int) -> int", "(a: float) -> int").describe(),
            ["annotations or return type changed"]
        );
    }
}
