//! `${...}` interpolation over params.yaml, `vars` and foreach/matrix items, as dvc does it.

use std::path::Path;

use crate::error::Result;
use crate::yaml::{Node, Value, err_at};

/// Variables visible to a stage: a merged mapping.
#[derive(Clone, Debug, Default)]
pub(crate) struct Context {
    pub(crate) vars: Vec<(String, Node)>,
}

impl Context {
    /// Adds (or replaces) top-level names from a mapping node.
    pub(crate) fn merge(&mut self, map: &Node) {
        if let Some(m) = map.as_map() {
            for (k, v) in m {
                self.set(k, v.clone());
            }
        }
    }

    pub(crate) fn set(&mut self, k: &str, v: Node) {
        if let Some(slot) = self.vars.iter_mut().find(|(n, _)| n == k) {
            slot.1 = v;
        } else {
            self.vars.push((k.to_string(), v));
        }
    }

    /// Looks up `a.b.0.c`.
    pub(crate) fn lookup(&self, dotted: &str) -> Option<&Node> {
        let mut parts = dotted.split('.');
        let first = parts.next()?;
        let mut cur = &self.vars.iter().find(|(k, _)| k == first)?.1;
        for p in parts {
            cur = match &cur.value {
                Value::Map(m) => &m.iter().find(|(k, _)| k == p)?.1,
                Value::Seq(s) => s.get(p.parse::<usize>().ok()?)?,
                _ => return None,
            };
        }
        Some(cur)
    }
}

/// Interpolates every string inside `node`. A string that is exactly `${x}` takes x's value
/// with its type (so `foreach: ${list}` gets the list).
pub(crate) fn resolve(node: &Node, ctx: &Context, file: &Path, key: &str) -> Result<Node> {
    let value = match &node.value {
        Value::Str(s) => return resolve_str(s, node.line, ctx, file, key),
        Value::Seq(items) => Value::Seq(items.iter().map(|n| resolve(n, ctx, file, key)).collect::<Result<_>>()?),
        Value::Map(m) => Value::Map(
            m.iter()
                .map(|(k, v)| {
                    let sub = format!("{key}.{k}");
                    let k2 = resolve_str(k, v.line, ctx, file, &sub)?;
                    let k2 = k2.as_str().map(str::to_string).unwrap_or_else(|| k.clone());
                    Ok((k2, resolve(v, ctx, file, &sub)?))
                })
                .collect::<Result<_>>()?,
        ),
        other => other.clone(),
    };
    Ok(Node { value, line: node.line })
}

fn resolve_str(s: &str, line: usize, ctx: &Context, file: &Path, key: &str) -> Result<Node> {
    if !s.contains("${") {
        return Ok(Node { value: Value::Str(s.to_string()), line });
    }
    let trimmed = s.trim();
    if trimmed.starts_with("${") && trimmed.ends_with('}') && trimmed[2..].find('}') == Some(trimmed.len() - 3) {
        let name = trimmed[2..trimmed.len() - 1].trim();
        let v = ctx.lookup(name).ok_or_else(|| {
            err_at(file, line, key, format!("could not find '{name}' to interpolate (not in params.yaml or vars)"))
        })?;
        return Ok(Node { value: v.value.clone(), line });
    }
    let mut out = String::new();
    let mut rest = s;
    while let Some(start) = rest.find("${") {
        // `\${` escapes interpolation.
        if start > 0 && rest.as_bytes()[start - 1] == b'\\' {
            out.push_str(&rest[..start - 1]);
            out.push_str("${");
            rest = &rest[start + 2..];
            continue;
        }
        out.push_str(&rest[..start]);
        let end = rest[start..].find('}').ok_or_else(|| err_at(file, line, key, "unclosed '${' in string"))?;
        let name = rest[start + 2..start + end].trim();
        let v = ctx.lookup(name).ok_or_else(|| {
            err_at(file, line, key, format!("could not find '{name}' to interpolate (not in params.yaml or vars)"))
        })?;
        let text = v.to_interp_string().ok_or_else(|| {
            err_at(file, line, key, format!("'{name}' is {} and cannot be put inside a string", v.type_name()))
        })?;
        out.push_str(&text);
        rest = &rest[start + end + 1..];
    }
    out.push_str(rest);
    Ok(Node { value: Value::Str(out), line })
}
