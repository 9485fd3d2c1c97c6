//! The API tree `pyk build` records (see `src/python/pyk_api.py`, which writes it), and
//! how `pyk info` prints it.

use std::fmt::Write;

use serde::{Deserialize, Serialize};

/// Where the tree is kept in the app layer.
pub const FILE: &str = "__pyk_api__.json";

/// The tree of an app layer's modules.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Api {
    pub format: u32,
    /// The Python `X.Y` that read the sources.
    pub python: String,
    /// Every module, sorted by dotted name; packages before their submodules.
    pub modules: Vec<Module>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Module {
    /// Dotted name (`geo.core`).
    pub name: String,
    /// The file it was read from, relative to the app layer.
    pub file: String,
    #[serde(default, skip_serializing_if = "is_false")]
    pub package: bool,
    /// A directory of modules without `__init__.py`.
    #[serde(default, skip_serializing_if = "is_false")]
    pub namespace: bool,
    /// An extension module: no source to read.
    #[serde(default, skip_serializing_if = "is_false")]
    pub compiled: bool,
    /// Why the source could not be read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub doc: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub variables: Vec<Variable>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub functions: Vec<Function>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub classes: Vec<Class>,
    /// Names the module makes public that are defined elsewhere in the package.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reexports: Vec<Reexport>,
    /// Definitions that could not be rendered (`name (RecursionError)`), left out alone.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skipped: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Function {
    pub name: String,
    pub line: u32,
    /// In a class: `method`, `classmethod`, `staticmethod` or `property`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(default, rename = "async", skip_serializing_if = "is_false")]
    pub is_async: bool,
    /// As the source writes it: `(a: int, /, b=2, *, c: str = 'x', **kw) -> bool`.
    pub signature: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub decorators: Vec<String>,
    /// The first line of the docstring.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub doc: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Class {
    pub name: String,
    pub line: u32,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub bases: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub decorators: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub doc: Option<String>,
    /// How it is called: `__init__`'s parameters without `self`, or a dataclass's fields.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attributes: Vec<Variable>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub methods: Vec<Function>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub classes: Vec<Class>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Variable {
    pub name: String,
    pub line: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotation: Option<String>,
    /// The value as written, when it is short.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Reexport {
    pub name: String,
    /// The dotted name it comes from (`geo.core.distance`).
    pub target: String,
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// A part of the tree that `MODULE[.NAME]` picked.
pub enum Selection<'a> {
    /// A module and its submodules.
    Module(&'a Module, Vec<&'a Module>),
    Function(&'a Function),
    Class(&'a Class),
    Variable(&'a Variable),
    Reexport(&'a Reexport),
}

impl Api {
    /// Finds `MODULE[.NAME[.NAME…]]`: the longest module name that is a prefix, then
    /// names inside it (classes nest).
    pub fn select(&self, path: &str) -> Option<Selection<'_>> {
        if let Some(m) = self.modules.iter().find(|m| m.name == path) {
            return Some(Selection::Module(m, self.submodules(m)));
        }
        let module = self
            .modules
            .iter()
            .filter(|m| path.starts_with(&format!("{}.", m.name)))
            .max_by_key(|m| m.name.len())?;
        let mut names = path[module.name.len() + 1..].split('.');
        let first = names.next()?;
        let mut class = match module.classes.iter().find(|c| c.name == first) {
            Some(c) => c,
            None => {
                let rest = names.next().is_none();
                return rest
                    .then(|| {
                        let f = module.functions.iter().find(|f| f.name == first);
                        let v = module.variables.iter().find(|v| v.name == first);
                        let r = module.reexports.iter().find(|r| r.name == first);
                        f.map(Selection::Function)
                            .or(v.map(Selection::Variable))
                            .or(r.map(Selection::Reexport))
                    })
                    .flatten();
            }
        };
        loop {
            let Some(name) = names.next() else {
                return Some(Selection::Class(class));
            };
            if let Some(c) = class.classes.iter().find(|c| c.name == name) {
                class = c;
                continue;
            }
            let last = names.next().is_none();
            if !last {
                return None;
            }
            let m = class.methods.iter().find(|m| m.name == name);
            let a = class.attributes.iter().find(|a| a.name == name);
            return m.map(Selection::Function).or(a.map(Selection::Variable));
        }
    }

    /// The modules inside package `m`, deepest last.
    fn submodules(&self, m: &Module) -> Vec<&Module> {
        let prefix = format!("{}.", m.name);
        self.modules
            .iter()
            .filter(|s| s.name.starts_with(&prefix))
            .collect()
    }

    /// The tree as text: each module at the depth of its dotted name, its members
    /// indented under it, each docstring's first line under what it documents.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for m in &self.modules {
            render_module(&mut out, m, self.depth_of(m));
        }
        out
    }

    fn depth_of(&self, m: &Module) -> usize {
        m.name.matches('.').count()
    }
}

impl Selection<'_> {
    pub fn render(&self) -> String {
        let mut out = String::new();
        match self {
            Selection::Module(m, subs) => {
                let base = m.name.matches('.').count();
                render_module(&mut out, m, 0);
                for s in subs {
                    render_module(&mut out, s, s.name.matches('.').count() - base);
                }
            }
            Selection::Function(f) => render_function(&mut out, f, 0),
            Selection::Class(c) => render_class(&mut out, c, 0),
            Selection::Variable(v) => render_variable(&mut out, v, 0),
            Selection::Reexport(r) => render_reexport(&mut out, r, 0),
        }
        out
    }

    /// The selection as `pyk info --json` prints it: shaped as the whole tree is (its
    /// `format` and `python`), with the selected modules as `modules`, or the one name
    /// under its kind (`function`, `class`, `variable`, `reexport`).
    pub fn json(&self, api: &Api) -> serde_json::Result<String> {
        let mut object = serde_json::json!({ "format": api.format, "python": api.python });
        let (key, value) = match self {
            Selection::Module(m, subs) => {
                let mut all = vec![*m];
                all.extend(subs);
                ("modules", serde_json::to_value(all)?)
            }
            Selection::Function(f) => ("function", serde_json::to_value(f)?),
            Selection::Class(c) => ("class", serde_json::to_value(c)?),
            Selection::Variable(v) => ("variable", serde_json::to_value(v)?),
            Selection::Reexport(r) => ("reexport", serde_json::to_value(r)?),
        };
        object[key] = value;
        serde_json::to_string_pretty(&object)
    }
}

fn pad(depth: usize) -> String {
    "  ".repeat(depth)
}

fn doc_line(out: &mut String, doc: Option<&str>, depth: usize) {
    if let Some(doc) = doc {
        let _ = writeln!(out, "{}    {doc}", pad(depth));
    }
}

fn render_module(out: &mut String, m: &Module, depth: usize) {
    let what = if m.compiled {
        " (compiled)"
    } else if m.namespace {
        " (namespace package)"
    } else if m.package {
        " (package)"
    } else {
        ""
    };
    let _ = writeln!(out, "{}module {}{what}", pad(depth), m.name);
    if let Some(e) = &m.error {
        let _ = writeln!(out, "{}    not read: {e}", pad(depth));
    }
    doc_line(out, m.doc.as_deref(), depth);
    if !m.skipped.is_empty() {
        let _ = writeln!(out, "{}    not shown: {}", pad(depth), m.skipped.join(", "));
    }
    for v in &m.variables {
        render_variable(out, v, depth + 1);
    }
    for r in &m.reexports {
        render_reexport(out, r, depth + 1);
    }
    for f in &m.functions {
        render_function(out, f, depth + 1);
    }
    for c in &m.classes {
        render_class(out, c, depth + 1);
    }
}

fn render_variable(out: &mut String, v: &Variable, depth: usize) {
    let mut line = format!("{}{}", pad(depth), v.name);
    if let Some(a) = &v.annotation {
        let _ = write!(line, ": {a}");
    }
    if let Some(value) = &v.value {
        let _ = write!(line, " = {value}");
    }
    let _ = writeln!(out, "{line}");
}

fn render_reexport(out: &mut String, r: &Reexport, depth: usize) {
    let _ = writeln!(out, "{}{} (from {})", pad(depth), r.name, r.target);
}

fn render_function(out: &mut String, f: &Function, depth: usize) {
    let keyword = match f.kind.as_deref() {
        Some("property") => "property ",
        Some("classmethod") => "@classmethod def ",
        Some("staticmethod") => "@staticmethod def ",
        _ if f.is_async => "async def ",
        _ => "def ",
    };
    let _ = writeln!(out, "{}{keyword}{}{}", pad(depth), f.name, f.signature);
    doc_line(out, f.doc.as_deref(), depth);
}

fn render_class(out: &mut String, c: &Class, depth: usize) {
    // As `help()` shows a class: the class statement, then how to call it.
    let bases = match c.bases.is_empty() {
        true => String::new(),
        false => format!("({})", c.bases.join(", ")),
    };
    let _ = writeln!(out, "{}class {}{bases}", pad(depth), c.name);
    doc_line(out, c.doc.as_deref(), depth);
    if let Some(sig) = &c.signature {
        let _ = writeln!(out, "{}{}{sig}", pad(depth + 1), c.name);
    }
    for a in &c.attributes {
        render_variable(out, a, depth + 1);
    }
    for m in &c.methods {
        render_function(out, m, depth + 1);
    }
    for inner in &c.classes {
        render_class(out, inner, depth + 1);
    }
}
