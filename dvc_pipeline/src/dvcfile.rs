//! dvc.yaml: schema validation (unknown keys, wrong types, with file and line), `vars`,
//! `${}` interpolation and foreach/matrix expansion into concrete stages.

use std::path::{Path, PathBuf};

use crate::error::Result;
use crate::interp::{Context, resolve};
use crate::yaml::{self, Node, Value, err_at};

/// Stage command: one string (split into lines when run) or a list.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Cmd {
    One(String),
    List(Vec<String>),
}

impl Cmd {
    /// The pieces run one by one, each by its own shell.
    pub(crate) fn pieces(&self) -> Vec<String> {
        match self {
            Cmd::One(s) => s.lines().filter(|l| !l.trim().is_empty()).map(str::to_string).collect(),
            Cmd::List(l) => l.clone(),
        }
    }

    pub(crate) fn to_node(&self) -> Node {
        match self {
            Cmd::One(s) => Node::str(s.clone()),
            Cmd::List(l) => Node::new(Value::Seq(l.iter().map(|s| Node::str(s.clone())).collect())),
        }
    }

    /// Same command as a lock's `cmd` value (string vs list counts, whitespace counts).
    pub(crate) fn matches(&self, lock: &Node) -> bool {
        match (self, &lock.value) {
            (Cmd::One(a), Value::Str(b)) => a == b,
            (Cmd::List(a), Value::Seq(b)) => a.len() == b.len() && a.iter().zip(b).all(|(x, y)| y.as_str() == Some(x)),
            _ => false,
        }
    }
}

/// Kind of output declaration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum OutKind {
    Out,
    Metric,
    Plot,
}

/// One declared output.
#[derive(Clone, Debug)]
pub(crate) struct OutDecl {
    pub(crate) path: String,
    pub(crate) cache: bool,
    pub(crate) persist: bool,
    pub(crate) push: bool,
    pub(crate) kind: OutKind,
}

/// Params a stage uses from one file: some keys, or the whole file.
#[derive(Clone, Debug)]
pub(crate) struct ParamsDecl {
    pub(crate) file: String,
    /// `None`: the whole file (`{file.yaml: null}`).
    pub(crate) keys: Option<Vec<String>>,
}

/// A concrete (expanded, interpolated) stage.
#[derive(Clone, Debug)]
pub(crate) struct Stage {
    /// Name inside its dvc.yaml (`train`, `each@x`).
    pub(crate) name: String,
    /// The dvc.yaml it comes from.
    pub(crate) dvcfile: PathBuf,
    /// Absolute working directory.
    pub(crate) wdir: PathBuf,
    pub(crate) cmd: Cmd,
    pub(crate) deps: Vec<String>,
    pub(crate) params: Vec<ParamsDecl>,
    pub(crate) outs: Vec<OutDecl>,
    pub(crate) frozen: bool,
    pub(crate) always_changed: bool,
}

impl Stage {
    /// Absolute, lexically normalised path of a dep/out written relative to wdir.
    pub(crate) fn abs(&self, rel: &str) -> PathBuf {
        normalize(&self.wdir.join(rel))
    }

    /// The lock file of this stage's dvc.yaml.
    pub(crate) fn lockfile(&self) -> PathBuf {
        self.dvcfile.with_file_name("dvc.lock")
    }
}

/// Removes `.` and resolves `..` without touching the file system.
pub(crate) fn normalize(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            std::path::Component::CurDir => {}
            std::path::Component::ParentDir => {
                out.pop();
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}

const TOP_KEYS: &[&str] = &["stages", "vars", "params", "metrics", "plots", "artifacts", "datasets"];
const STAGE_KEYS: &[&str] =
    &["cmd", "wdir", "deps", "outs", "params", "metrics", "plots", "frozen", "always_changed", "desc", "meta", "vars"];
const OUT_FLAGS: &[&str] = &["cache", "persist", "remote", "push", "desc", "type", "labels", "meta"];
const PLOT_FLAGS: &[&str] = &["x", "y", "template", "title", "x_label", "y_label", "header"];

/// Loads a dvc.yaml into concrete stages.
pub(crate) fn load(path: &Path) -> Result<Vec<Stage>> {
    let doc = yaml::load_file(path)?;
    let dir = path.parent().unwrap_or(Path::new(".")).to_path_buf();
    let Some(top) = doc.as_map() else {
        if matches!(doc.value, Value::Null) {
            return Ok(Vec::new());
        }
        return Err(err_at(
            path,
            doc.line,
            "(top level)",
            format!("expected a mapping with 'stages', found {}", doc.type_name()),
        ));
    };
    for (k, v) in top {
        if !TOP_KEYS.contains(&k.as_str()) {
            return Err(err_at(
                path,
                v.line,
                k,
                format!("unknown top-level key; expected one of {}", TOP_KEYS.join(", ")),
            ));
        }
    }
    let mut ctx = Context::default();
    let params_file = dir.join("params.yaml");
    if params_file.exists() {
        ctx.merge(&yaml::load_file(&params_file)?);
    }
    if let Some(vars) = doc.get("vars") {
        load_vars(vars, &dir, &mut ctx, path, "vars")?;
    }
    let mut stages = Vec::new();
    let Some(st) = doc.get("stages") else { return Ok(stages) };
    let Some(st_map) = st.as_map() else {
        if matches!(st.value, Value::Null) {
            return Ok(stages);
        }
        return Err(err_at(
            path,
            st.line,
            "stages",
            format!("expected a mapping of stage names, found {}", st.type_name()),
        ));
    };
    for (name, body) in st_map {
        let key = format!("stages.{name}");
        if name.contains('@') || name.contains(':') || name.contains('/') {
            return Err(err_at(path, body.line, &key, "stage names may not contain '@', ':' or '/'"));
        }
        let Some(map) = body.as_map() else {
            return Err(err_at(path, body.line, &key, format!("expected a mapping, found {}", body.type_name())));
        };
        if let Some(fe) = body.get("foreach") {
            check_only(map, &["foreach", "do"], path, &key)?;
            let do_ = body.get("do").ok_or_else(|| err_at(path, body.line, &key, "'foreach' needs a 'do' body"))?;
            let items = resolve(fe, &ctx, path, &format!("{key}.foreach"))?;
            match &items.value {
                Value::Seq(list) => {
                    for (i, item) in list.iter().enumerate() {
                        let suffix = match item.to_interp_string() {
                            Some(s) if !matches!(item.value, Value::Map(_) | Value::Seq(_)) => s,
                            _ => i.to_string(),
                        };
                        let mut c = ctx.clone();
                        c.set("item", item.clone());
                        stages.push(build_stage(&format!("{name}@{suffix}"), do_, &c, path, &dir)?);
                    }
                }
                Value::Map(m) => {
                    for (k, item) in m {
                        let mut c = ctx.clone();
                        c.set("item", item.clone());
                        c.set("key", Node::str(k.clone()));
                        stages.push(build_stage(&format!("{name}@{k}"), do_, &c, path, &dir)?);
                    }
                }
                _ => {
                    return Err(err_at(
                        path,
                        fe.line,
                        &format!("{key}.foreach"),
                        format!("expected a list or mapping, found {}", items.type_name()),
                    ));
                }
            }
        } else if let Some(mx) = body.get("matrix") {
            let axes = resolve(mx, &ctx, path, &format!("{key}.matrix"))?;
            let Some(axes) = axes.as_map() else {
                return Err(err_at(path, mx.line, &format!("{key}.matrix"), "expected a mapping of axis: [values]"));
            };
            let mut combos: Vec<Vec<(String, Node, String)>> = vec![Vec::new()];
            for (axis, vals) in axes {
                let Value::Seq(vals) = &vals.value else {
                    return Err(err_at(
                        path,
                        vals.line,
                        &format!("{key}.matrix.{axis}"),
                        format!("expected a list, found {}", vals.type_name()),
                    ));
                };
                let mut next = Vec::new();
                for combo in &combos {
                    for (i, v) in vals.iter().enumerate() {
                        let label = match (&v.value, v.to_interp_string()) {
                            (Value::Map(_) | Value::Seq(_), _) | (_, None) => format!("{axis}{i}"),
                            (_, Some(s)) => s,
                        };
                        let mut c = combo.clone();
                        c.push((axis.clone(), v.clone(), label));
                        next.push(c);
                    }
                }
                combos = next;
            }
            let body_map: Vec<(String, Node)> = map.iter().filter(|(k, _)| k != "matrix").cloned().collect();
            let body_node = Node { value: Value::Map(body_map), line: body.line };
            for combo in combos {
                let mut c = ctx.clone();
                let item = Value::Map(combo.iter().map(|(a, v, _)| (a.clone(), v.clone())).collect());
                c.set("item", Node::new(item));
                let label: Vec<&str> = combo.iter().map(|(_, _, l)| l.as_str()).collect();
                stages.push(build_stage(&format!("{name}@{}", label.join("-")), &body_node, &c, path, &dir)?);
            }
        } else {
            stages.push(build_stage(name, body, &ctx, path, &dir)?);
        }
    }
    Ok(stages)
}

fn load_vars(vars: &Node, dir: &Path, ctx: &mut Context, file: &Path, key: &str) -> Result<()> {
    let Value::Seq(items) = &vars.value else {
        return Err(err_at(
            file,
            vars.line,
            key,
            format!("expected a list of files or mappings, found {}", vars.type_name()),
        ));
    };
    for item in items {
        match &item.value {
            Value::Map(_) => ctx.merge(item),
            Value::Str(s) => {
                let (f, keys) = match s.split_once(':') {
                    Some((f, k)) => (f, Some(k)),
                    None => (s.as_str(), None),
                };
                let vf = dir.join(f);
                let doc = if vf.extension().is_some_and(|e| e == "json") {
                    let text = std::fs::read(&vf).map_err(|e| crate::error::Error::io("reading", &vf, e))?;
                    let v: serde_json::Value =
                        serde_json::from_slice(&text).map_err(|e| err_at(&vf, e.line(), "(file)", e.to_string()))?;
                    Node::from_json(&v)
                } else {
                    yaml::load_file(&vf)?
                };
                match keys {
                    None => ctx.merge(&doc),
                    Some(ks) => {
                        for k in ks.split(',') {
                            if let Some(v) = doc.get(k.trim()) {
                                ctx.set(k.trim(), v.clone());
                            }
                        }
                    }
                }
            }
            _ => {
                return Err(err_at(
                    file,
                    item.line,
                    key,
                    format!("expected a file name or mapping, found {}", item.type_name()),
                ));
            }
        }
    }
    Ok(())
}

fn check_only(map: &[(String, Node)], allowed: &[&str], file: &Path, key: &str) -> Result<()> {
    for (k, v) in map {
        if !allowed.contains(&k.as_str()) {
            return Err(err_at(
                file,
                v.line,
                &format!("{key}.{k}"),
                format!("unknown key; expected one of {}", allowed.join(", ")),
            ));
        }
    }
    Ok(())
}

fn build_stage(name: &str, raw: &Node, ctx: &Context, file: &Path, dir: &Path) -> Result<Stage> {
    let key = format!("stages.{name}");
    let Some(map) = raw.as_map() else {
        return Err(err_at(file, raw.line, &key, format!("expected a mapping, found {}", raw.type_name())));
    };
    check_only(map, STAGE_KEYS, file, &key)?;
    let mut ctx = ctx.clone();
    if let Some(v) = raw.get("vars") {
        load_vars(v, dir, &mut ctx, file, &format!("{key}.vars"))?;
    }
    let body = resolve(raw, &ctx, file, &key)?;
    let get = |k: &str| body.get(k);
    let cmd_node = get("cmd").ok_or_else(|| err_at(file, raw.line, &key, "missing required key 'cmd'"))?;
    let cmd = match &cmd_node.value {
        Value::Str(s) => Cmd::One(s.clone()),
        Value::Seq(items) => Cmd::List(
            items
                .iter()
                .map(|i| {
                    i.to_interp_string().filter(|_| !matches!(i.value, Value::Map(_))).ok_or_else(|| {
                        err_at(
                            file,
                            i.line,
                            &format!("{key}.cmd"),
                            format!("expected a string, found {} (quote items containing ': ')", i.type_name()),
                        )
                    })
                })
                .collect::<Result<_>>()?,
        ),
        _ => {
            return Err(err_at(
                file,
                cmd_node.line,
                &format!("{key}.cmd"),
                format!("expected a string or list of strings, found {}", cmd_node.type_name()),
            ));
        }
    };
    let wdir_rel = match get("wdir") {
        None => ".".to_string(),
        Some(n) => n.as_str().map(str::to_string).ok_or_else(|| {
            err_at(file, n.line, &format!("{key}.wdir"), format!("expected a string, found {}", n.type_name()))
        })?,
    };
    let bool_key = |k: &str| -> Result<bool> {
        match get(k) {
            None => Ok(false),
            Some(Node { value: Value::Bool(b), .. }) => Ok(*b),
            Some(n) => Err(err_at(
                file,
                n.line,
                &format!("{key}.{k}"),
                format!("expected true or false, found {}", n.type_name()),
            )),
        }
    };
    let deps = str_list(get("deps"), file, &format!("{key}.deps"))?;
    let mut outs = Vec::new();
    for (k, kind) in [("outs", OutKind::Out), ("metrics", OutKind::Metric), ("plots", OutKind::Plot)] {
        outs.extend(out_list(get(k), kind, file, &format!("{key}.{k}"))?);
    }
    Ok(Stage {
        name: name.to_string(),
        dvcfile: file.to_path_buf(),
        wdir: normalize(&dir.join(&wdir_rel)),
        cmd,
        deps,
        params: params_list(get("params"), file, &format!("{key}.params"))?,
        outs,
        frozen: bool_key("frozen")?,
        always_changed: bool_key("always_changed")?,
    })
}

fn str_list(n: Option<&Node>, file: &Path, key: &str) -> Result<Vec<String>> {
    let Some(n) = n else { return Ok(Vec::new()) };
    match &n.value {
        Value::Null => Ok(Vec::new()),
        Value::Seq(items) => items
            .iter()
            .map(|i| {
                i.as_str().map(str::to_string).ok_or_else(|| {
                    err_at(file, i.line, key, format!("expected a path string, found {}", i.type_name()))
                })
            })
            .collect(),
        _ => Err(err_at(file, n.line, key, format!("expected a list, found {}", n.type_name()))),
    }
}

fn out_list(n: Option<&Node>, kind: OutKind, file: &Path, key: &str) -> Result<Vec<OutDecl>> {
    let Some(n) = n else { return Ok(Vec::new()) };
    let items = match &n.value {
        Value::Null => return Ok(Vec::new()),
        Value::Seq(items) => items,
        _ => return Err(err_at(file, n.line, key, format!("expected a list, found {}", n.type_name()))),
    };
    let mut out = Vec::new();
    for i in items {
        let mut d = OutDecl { path: String::new(), cache: true, persist: false, push: true, kind };
        match &i.value {
            Value::Str(s) => d.path = s.clone(),
            Value::Map(m) if m.len() == 1 => {
                let (p, flags) = &m[0];
                d.path = p.clone();
                if let Some(fm) = flags.as_map() {
                    for (fk, fv) in fm {
                        let fkey = format!("{key}.{p}.{fk}");
                        let allowed = OUT_FLAGS.contains(&fk.as_str())
                            || (kind == OutKind::Plot && PLOT_FLAGS.contains(&fk.as_str()));
                        if !allowed {
                            return Err(err_at(
                                file,
                                fv.line,
                                &fkey,
                                format!("unknown output flag; expected one of {}", OUT_FLAGS.join(", ")),
                            ));
                        }
                        let b = || match fv.value {
                            Value::Bool(b) => Ok(b),
                            _ => Err(err_at(
                                file,
                                fv.line,
                                &fkey,
                                format!("expected true or false, found {}", fv.type_name()),
                            )),
                        };
                        match fk.as_str() {
                            "cache" => d.cache = b()?,
                            "persist" => d.persist = b()?,
                            "push" => d.push = b()?,
                            _ => {}
                        }
                    }
                } else if !matches!(flags.value, Value::Null) {
                    return Err(err_at(
                        file,
                        flags.line,
                        &format!("{key}.{p}"),
                        format!("expected a mapping of flags, found {}", flags.type_name()),
                    ));
                }
            }
            _ => {
                return Err(err_at(
                    file,
                    i.line,
                    key,
                    format!("expected a path or {{path: {{flags}}}}, found {}", i.type_name()),
                ));
            }
        }
        out.push(d);
    }
    Ok(out)
}

fn params_list(n: Option<&Node>, file: &Path, key: &str) -> Result<Vec<ParamsDecl>> {
    let Some(n) = n else { return Ok(Vec::new()) };
    let items = match &n.value {
        Value::Null => return Ok(Vec::new()),
        Value::Seq(items) => items,
        _ => return Err(err_at(file, n.line, key, format!("expected a list, found {}", n.type_name()))),
    };
    let mut out: Vec<ParamsDecl> = Vec::new();
    let mut add = |f: &str, keys: Option<Vec<String>>| {
        if let Some(existing) = out.iter_mut().find(|p| p.file == f) {
            match (&mut existing.keys, keys) {
                (Some(a), Some(b)) => a.extend(b),
                (slot, None) => *slot = None,
                (None, Some(_)) => {}
            }
        } else {
            out.push(ParamsDecl { file: f.to_string(), keys });
        }
    };
    for i in items {
        match &i.value {
            Value::Str(s) => add("params.yaml", Some(vec![s.clone()])),
            Value::Map(m) => {
                for (f, keys) in m {
                    match &keys.value {
                        Value::Null => add(f, None),
                        Value::Seq(ks) => {
                            let ks = ks
                                .iter()
                                .map(|k| {
                                    k.as_str()
                                        .map(str::to_string)
                                        .ok_or_else(|| err_at(file, k.line, key, "expected a parameter name"))
                                })
                                .collect::<Result<Vec<_>>>()?;
                            if ks.is_empty() { add(f, None) } else { add(f, Some(ks)) }
                        }
                        _ => {
                            return Err(err_at(
                                file,
                                keys.line,
                                &format!("{key}.{f}"),
                                format!("expected a list of keys or nothing, found {}", keys.type_name()),
                            ));
                        }
                    }
                }
            }
            _ => {
                return Err(err_at(
                    file,
                    i.line,
                    key,
                    format!("expected a key or {{file: [keys]}}, found {}", i.type_name()),
                ));
            }
        }
    }
    Ok(out)
}
