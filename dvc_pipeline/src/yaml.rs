//! YAML 1.2 reading with line numbers (saphyr) into a small owned tree, and a writer that
//! emits the block style ruamel (and so dvc) uses for dvc.lock and .dvc files.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use saphyr::{LoadableYamlNode, MarkedYaml, Scalar, YamlData};

use crate::error::{Error, Result};

/// A parsed YAML value. Maps keep document order.
#[derive(Clone, Debug)]
pub(crate) enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Seq(Vec<Node>),
    Map(Vec<(String, Node)>),
}

/// A value with the 1-based line it starts on.
#[derive(Clone, Debug)]
pub(crate) struct Node {
    pub(crate) value: Value,
    pub(crate) line: usize,
}

impl Node {
    pub(crate) fn new(value: Value) -> Self {
        Node { value, line: 0 }
    }

    pub(crate) fn str(s: impl Into<String>) -> Self {
        Node::new(Value::Str(s.into()))
    }

    pub(crate) fn as_str(&self) -> Option<&str> {
        match &self.value {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    pub(crate) fn as_map(&self) -> Option<&[(String, Node)]> {
        match &self.value {
            Value::Map(m) => Some(m),
            _ => None,
        }
    }

    pub(crate) fn get(&self, key: &str) -> Option<&Node> {
        self.as_map()?.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// Short name of the type, for error messages.
    pub(crate) fn type_name(&self) -> &'static str {
        match self.value {
            Value::Null => "null",
            Value::Bool(_) => "a boolean",
            Value::Int(_) => "an integer",
            Value::Float(_) => "a float",
            Value::Str(_) => "a string",
            Value::Seq(_) => "a list",
            Value::Map(_) => "a mapping",
        }
    }

    /// Python-style equality: `3 == 3.0`, map order does not matter.
    pub(crate) fn same_as(&self, other: &Node) -> bool {
        use Value::*;
        match (&self.value, &other.value) {
            (Null, Null) => true,
            (Bool(a), Bool(b)) => a == b,
            (Int(a), Int(b)) => a == b,
            (Float(a), Float(b)) => a == b,
            (Int(a), Float(b)) | (Float(b), Int(a)) => (*a as f64) == *b,
            (Str(a), Str(b)) => a == b,
            (Seq(a), Seq(b)) => a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.same_as(y)),
            (Map(a), Map(b)) => {
                a.len() == b.len() && a.iter().all(|(k, v)| b.iter().any(|(k2, v2)| k == k2 && v.same_as(v2)))
            }
            _ => false,
        }
    }

    /// Text used when the value is interpolated into a string (`${x}`), as dvc does it.
    pub(crate) fn to_interp_string(&self) -> Option<String> {
        match &self.value {
            Value::Str(s) => Some(s.clone()),
            Value::Int(i) => Some(i.to_string()),
            Value::Float(f) => Some(python_float(*f)),
            Value::Bool(b) => Some(if *b { "true".into() } else { "false".into() }),
            _ => None,
        }
    }

    /// Compact JSON rendering (used for hashing and `metrics show`).
    pub(crate) fn to_json(&self) -> serde_json::Value {
        match &self.value {
            Value::Null => serde_json::Value::Null,
            Value::Bool(b) => (*b).into(),
            Value::Int(i) => (*i).into(),
            Value::Float(f) => serde_json::Number::from_f64(*f).map_or(serde_json::Value::Null, Into::into),
            Value::Str(s) => s.clone().into(),
            Value::Seq(s) => s.iter().map(Node::to_json).collect(),
            Value::Map(m) => m.iter().map(|(k, v)| (k.clone(), v.to_json())).collect(),
        }
    }

    pub(crate) fn from_json(v: &serde_json::Value) -> Node {
        Node::new(match v {
            serde_json::Value::Null => Value::Null,
            serde_json::Value::Bool(b) => Value::Bool(*b),
            serde_json::Value::Number(n) => match n.as_i64() {
                Some(i) => Value::Int(i),
                None => Value::Float(n.as_f64().unwrap_or(f64::NAN)),
            },
            serde_json::Value::String(s) => Value::Str(s.clone()),
            serde_json::Value::Array(a) => Value::Seq(a.iter().map(Node::from_json).collect()),
            serde_json::Value::Object(o) => {
                Value::Map(o.iter().map(|(k, v)| (k.clone(), Node::from_json(v))).collect())
            }
        })
    }
}

/// Reads and parses a YAML file; an empty file is `Null`.
pub(crate) fn load_file(path: &Path) -> Result<Node> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io("reading", path, e))?;
    parse(&text, path)
}

/// Parses YAML text; `path` only names the file in errors.
pub(crate) fn parse(text: &str, path: &Path) -> Result<Node> {
    let docs = MarkedYaml::load_from_str(text).map_err(|e| Error::Yaml {
        file: path.to_path_buf(),
        line: e.marker().line(),
        message: e.info().to_string(),
    })?;
    match docs.into_iter().next() {
        None => Ok(Node { value: Value::Null, line: 1 }),
        Some(doc) => convert(&doc, path),
    }
}

fn convert(y: &MarkedYaml<'_>, path: &Path) -> Result<Node> {
    let line = y.span.start.line();
    let bad = |what: &str| Error::Yaml { file: path.to_path_buf(), line, message: format!("unsupported YAML {what}") };
    let value = match &y.data {
        YamlData::Value(s) => scalar(s),
        YamlData::Sequence(seq) => Value::Seq(seq.iter().map(|n| convert(n, path)).collect::<Result<_>>()?),
        YamlData::Mapping(map) => {
            let mut out: Vec<(String, Node)> = Vec::with_capacity(map.len());
            for (k, v) in map.iter() {
                let key = match &k.data {
                    YamlData::Value(s) => match scalar(s) {
                        Value::Str(s) => s,
                        Value::Int(i) => i.to_string(),
                        Value::Float(f) => python_float(f),
                        Value::Bool(b) => {
                            if b {
                                "true".into()
                            } else {
                                "false".into()
                            }
                        }
                        Value::Null => "null".into(),
                        _ => return Err(bad("mapping key")),
                    },
                    _ => return Err(bad("mapping key (only scalar keys are allowed)")),
                };
                // Errors about an entry point at its key's line, not where a block value starts.
                let mut value = convert(v, path)?;
                value.line = k.span.start.line();
                out.push((key, value));
            }
            Value::Map(out)
        }
        YamlData::Tagged(_, inner) => return convert(inner, path),
        YamlData::Representation(s, _, _) => Value::Str(s.to_string()),
        YamlData::Alias(_) => return Err(bad("alias")),
        YamlData::BadValue => return Err(bad("value")),
    };
    Ok(Node { value, line })
}

fn scalar(s: &Scalar<'_>) -> Value {
    match s {
        Scalar::Null => Value::Null,
        Scalar::Boolean(b) => Value::Bool(*b),
        Scalar::Integer(i) => Value::Int(*i),
        Scalar::FloatingPoint(f) => Value::Float(f.into_inner()),
        Scalar::String(s) => Value::Str(s.to_string()),
    }
}

/// Formats a float the way Python's `repr` does (`0.001`, `1e-05`, `1e+16`, `3.0`).
pub(crate) fn python_float(f: f64) -> String {
    if f.is_nan() {
        return ".nan".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { ".inf".into() } else { "-.inf".into() };
    }
    if f == 0.0 {
        return if f.is_sign_negative() { "-0.0".into() } else { "0.0".into() };
    }
    // Shortest round-trip digits from Rust's `{:e}`: "d.ddde-x".
    let e = format!("{f:e}");
    let (mant, exp) = e.split_once('e').unwrap_or((&e, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let neg = mant.starts_with('-');
    let digits: String = mant.chars().filter(char::is_ascii_digit).collect();
    let sign = if neg { "-" } else { "" };
    if !(-4..16).contains(&exp) {
        let m = if digits.len() > 1 { format!("{}.{}", &digits[..1], &digits[1..]) } else { digits };
        let es = if exp < 0 { '-' } else { '+' };
        return format!("{sign}{m}e{es}{:02}", exp.abs());
    }
    let point = exp + 1; // digits before the decimal point
    if point <= 0 {
        format!("{sign}0.{}{digits}", "0".repeat((-point) as usize))
    } else if (point as usize) >= digits.len() {
        format!("{sign}{digits}{}.0", "0".repeat(point as usize - digits.len()))
    } else {
        format!("{sign}{}.{}", &digits[..point as usize], &digits[point as usize..])
    }
}

/// Emits a block-style YAML document the way ruamel round-trips dvc files:
/// 2-space mapping indent, sequence dashes at the parent's indent.
pub(crate) fn emit(node: &Node) -> String {
    let mut out = String::new();
    emit_value(&mut out, node, 0, false);
    out
}

fn emit_value(out: &mut String, node: &Node, indent: usize, in_seq_item: bool) {
    match &node.value {
        Value::Map(m) if !m.is_empty() => {
            for (i, (k, v)) in m.iter().enumerate() {
                if !(in_seq_item && i == 0) {
                    out.push_str(&" ".repeat(indent));
                }
                out.push_str(&scalar_text(&Value::Str(k.clone()), true));
                out.push(':');
                emit_child(out, v, indent);
            }
        }
        Value::Seq(s) if !s.is_empty() => {
            for item in s {
                out.push_str(&" ".repeat(indent));
                out.push_str("- ");
                match &item.value {
                    Value::Map(m) if !m.is_empty() => emit_value(out, item, indent + 2, true),
                    Value::Seq(s2) if !s2.is_empty() => {
                        out.push('\n');
                        emit_value(out, item, indent + 2, false);
                    }
                    v => {
                        out.push_str(&scalar_text(v, false));
                        out.push('\n');
                    }
                }
            }
        }
        v => {
            out.push_str(&scalar_text(v, false));
            out.push('\n');
        }
    }
}

fn emit_child(out: &mut String, v: &Node, indent: usize) {
    match &v.value {
        Value::Map(m) if !m.is_empty() => {
            out.push('\n');
            emit_value(out, v, indent + 2, false);
        }
        Value::Seq(s) if !s.is_empty() => {
            out.push('\n');
            emit_value(out, v, indent, false);
        }
        Value::Null => out.push('\n'),
        other => {
            out.push(' ');
            out.push_str(&scalar_text(other, false));
            out.push('\n');
        }
    }
}

fn scalar_text(v: &Value, is_key: bool) -> String {
    match v {
        Value::Null => String::new(),
        Value::Bool(b) => {
            if *b {
                "true".into()
            } else {
                "false".into()
            }
        }
        Value::Int(i) => i.to_string(),
        Value::Float(f) => python_float(*f),
        Value::Str(s) => quote_if_needed(s, is_key),
        Value::Seq(_) => "[]".into(),
        Value::Map(_) => "{}".into(),
    }
}

/// Plain when YAML 1.2 would read it back as the same string, otherwise quoted.
fn quote_if_needed(s: &str, _is_key: bool) -> String {
    let needs = s.is_empty()
        || s.contains(['\n', '\r', '\t', '"', '\\'])
        || s.chars().any(|c| c.is_control() || !c.is_ascii())
        || s.starts_with([
            ' ', '-', '?', ':', ',', '[', ']', '{', '}', '#', '&', '*', '!', '|', '>', '\'', '%', '@', '`',
        ])
        || s.ends_with([' ', ':'])
        || s.contains(": ")
        || s.contains(" #")
        || !matches!(scalar(&Scalar::parse_from_cow(s.into())), Value::Str(_));
    if !needs {
        return s.to_string();
    }
    if !s.contains(['\n', '\r', '\t', '\\']) && !s.chars().any(|c| c.is_control()) {
        return format!("'{}'", s.replace('\'', "''"));
    }
    let mut q = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => q.push_str("\\\""),
            '\\' => q.push_str("\\\\"),
            '\n' => q.push_str("\\n"),
            '\r' => q.push_str("\\r"),
            '\t' => q.push_str("\\t"),
            c if c.is_control() => {
                let _ = write!(q, "\\x{:02x}", c as u32);
            }
            c => q.push(c),
        }
    }
    q.push('"');
    q
}

/// Key path for error messages: `stages.train.outs`.
pub(crate) fn err_at(file: &Path, line: usize, key: &str, message: impl Into<String>) -> Error {
    Error::Schema { file: PathBuf::from(file), line, key: key.to_string(), message: message.into() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_are_written_like_python() {
        for (f, s) in [
            (1e-3, "0.001"),
            (0.2, "0.2"),
            (3.0, "3.0"),
            (1e-5, "1e-05"),
            (1e16, "1e+16"),
            (123456.5, "123456.5"),
            (-2.5e-7, "-2.5e-07"),
        ] {
            assert_eq!(python_float(f), s);
        }
    }
}
