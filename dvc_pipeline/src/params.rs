//! Reads the parameter values a stage uses, shaped as dvc.lock stores them:
//! `params.yaml` first, then other files alphabetically; keys sorted; dotted keys stay flat.

use std::path::Path;

use crate::dvcfile::Stage;
use crate::error::{Error, Result};
use crate::yaml::{self, Node, Value};

/// `[(file, [(key, value)])]`.
pub(crate) type ParamValues = Vec<(String, Vec<(String, Node)>)>;

/// Looks up a dotted key (`train.epochs`) in a parsed params file.
pub(crate) fn lookup<'a>(doc: &'a Node, dotted: &str) -> Option<&'a Node> {
    if let Some(v) = doc.get(dotted) {
        return Some(v);
    }
    let mut cur = doc;
    for part in dotted.split('.') {
        cur = match &cur.value {
            Value::Map(m) => &m.iter().find(|(k, _)| k == part)?.1,
            Value::Seq(s) => s.get(part.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    Some(cur)
}

fn load_params_file(path: &Path) -> Result<Node> {
    if path.extension().is_some_and(|e| e == "json") {
        let text = std::fs::read(path).map_err(|e| Error::io("reading", path, e))?;
        let v: serde_json::Value = serde_json::from_slice(&text).map_err(|e| Error::Yaml {
            file: path.to_path_buf(),
            line: e.line(),
            message: e.to_string(),
        })?;
        Ok(Node::from_json(&v))
    } else {
        yaml::load_file(path)
    }
}

/// Current values. `strict`: a missing file or key is an error (repro); otherwise it is
/// left out (status then reports it as deleted).
pub(crate) fn read(stage: &Stage, strict: bool) -> Result<ParamValues> {
    let mut decls: Vec<_> = stage.params.iter().collect();
    decls.sort_by(|a, b| (a.file != "params.yaml", &a.file).cmp(&(b.file != "params.yaml", &b.file)));
    let mut out = Vec::new();
    for d in decls {
        let path = stage.abs(&d.file);
        if !path.exists() {
            if strict {
                return Err(Error::MissingParamsFile { stage: stage.name.clone(), file: path });
            }
            continue;
        }
        let doc = load_params_file(&path)?;
        let mut vals: Vec<(String, Node)> = Vec::new();
        match &d.keys {
            None => {
                if let Some(m) = doc.as_map() {
                    vals.extend(m.iter().cloned());
                }
            }
            Some(keys) => {
                for k in keys {
                    match lookup(&doc, k) {
                        Some(v) => vals.push((k.clone(), v.clone())),
                        None if strict => {
                            return Err(Error::MissingParam { stage: stage.name.clone(), key: k.clone(), file: path });
                        }
                        None => {}
                    }
                }
            }
        }
        vals.sort_by(|a, b| a.0.cmp(&b.0));
        vals.dedup_by(|a, b| a.0 == b.0);
        out.push((d.file.clone(), vals));
    }
    Ok(out)
}
