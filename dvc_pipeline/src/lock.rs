//! dvc.lock and `.dvc` files: reading (DVC 3 and 2.x entries, any YAML style) and writing
//! (ruamel's block style), atomically. Both hold the same out entries ([`LockOut`]), read by one
//! parser. Unchanged dvc.lock entries keep their exact form.

use std::path::{Path, PathBuf};

use atomic_file::Durability;

use crate::checksum::Algo;
use crate::error::Result;
use crate::external::Found;
use crate::hashing::HashInfo;
use crate::params::ParamValues;
use crate::repo::write_file;
use crate::yaml::{self, Node, Value, err_at};

/// One dep or out entry.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct LockOut {
    pub(crate) path: String,
    /// `Md5` when `hash: md5` is present (DVC 3), `Dos2Unix` for DVC 2.x entries.
    pub(crate) algo: Algo,
    /// md5 hex (`.dir` for a directory or an S3 prefix); empty when not recorded.
    pub(crate) md5: String,
    /// An S3 object dependency's ETag (without quotes), in place of an md5.
    pub(crate) etag: Option<String>,
    pub(crate) size: Option<u64>,
    pub(crate) nfiles: Option<u64>,
    pub(crate) isexec: bool,
}

impl LockOut {
    pub(crate) fn from_hash(path: &str, h: &HashInfo) -> Self {
        LockOut {
            path: path.to_string(),
            algo: Algo::Md5,
            md5: h.md5.clone(),
            etag: None,
            size: Some(h.size),
            nfiles: h.nfiles,
            isexec: h.isexec,
        }
    }

    /// The entry of an S3 dependency (`path` as written: `s3://...` or `remote://...`).
    pub(crate) fn from_found(path: &str, found: &Found) -> Self {
        let (md5, etag, size, nfiles) = match found {
            Found::Object { etag, size } => (String::new(), Some(etag.clone()), *size, None),
            Found::Prefix { md5, size, nfiles, .. } => (md5.clone(), None, *size, Some(*nfiles)),
        };
        LockOut { path: path.to_string(), algo: Algo::Md5, md5, etag, size: Some(size), nfiles, isexec: false }
    }

    /// Whether an S3 dependency's entry still describes what the URL holds, compared as dvc
    /// compares: an object by its ETag (exact, case-sensitive), a prefix by its listing's md5,
    /// which counts only with `nfiles` recorded.
    pub(crate) fn matches_found(&self, found: &Found) -> bool {
        match found {
            Found::Object { etag, .. } => self.etag.as_deref() == Some(etag.as_str()),
            Found::Prefix { md5, .. } => self.nfiles.is_some_and(|n| n > 0) && &self.md5 == md5,
        }
    }

    /// The entry as dvc.lock holds it (`path, hash, md5, size, nfiles, isexec`; an S3
    /// object: `path, hash, etag, size`).
    pub(crate) fn to_node(&self) -> Node {
        self.node_in_order(&["path", "hash", "md5", "etag", "size", "nfiles", "isexec"])
    }

    /// The entry as a `.dvc` file holds it, in the key order dvc writes there
    /// (`md5, size, nfiles, isexec, hash, path`; an import's S3 object: `etag, size, hash, path`).
    pub(crate) fn to_dvc_node(&self) -> Node {
        self.node_in_order(&["md5", "etag", "size", "nfiles", "isexec", "hash", "path"])
    }

    /// The fields present (`hash` only for DVC 3 entries, sizes when known, `isexec` when set)
    /// as a mapping with the keys in `order`.
    fn node_in_order(&self, order: &[&str]) -> Node {
        let field = |key: &str| -> Option<Node> {
            match key {
                "path" => Some(Node::str(self.path.clone())),
                "hash" => (self.algo == Algo::Md5).then(|| Node::str("md5")),
                // An S3 object's entry has an ETag and no md5.
                "md5" => (self.etag.is_none()).then(|| Node::str(self.md5.clone())),
                "etag" => self.etag.clone().map(Node::str),
                "size" => self.size.map(|s| Node::new(Value::Int(s as i64))),
                "nfiles" => self.nfiles.map(|n| Node::new(Value::Int(n as i64))),
                "isexec" => self.isexec.then(|| Node::new(Value::Bool(true))),
                _ => None,
            }
        };
        Node::new(Value::Map(order.iter().filter_map(|k| field(k).map(|v| (k.to_string(), v))).collect()))
    }
}

/// One stage's entry.
#[derive(Clone, Debug)]
pub(crate) struct LockStage {
    pub(crate) cmd: Node,
    pub(crate) deps: Vec<LockOut>,
    pub(crate) params: ParamValues,
    pub(crate) outs: Vec<LockOut>,
}

impl LockStage {
    pub(crate) fn to_node(&self) -> Node {
        let mut m = vec![("cmd".to_string(), self.cmd.clone())];
        if !self.deps.is_empty() {
            m.push(("deps".into(), Node::new(Value::Seq(self.deps.iter().map(LockOut::to_node).collect()))));
        }
        if !self.params.is_empty() {
            let p = self.params.iter().map(|(f, kv)| (f.clone(), Node::new(Value::Map(kv.clone())))).collect();
            m.push(("params".into(), Node::new(Value::Map(p))));
        }
        if !self.outs.is_empty() {
            m.push(("outs".into(), Node::new(Value::Seq(self.outs.iter().map(LockOut::to_node).collect()))));
        }
        Node::new(Value::Map(m))
    }

    pub(crate) fn from_node(n: &Node, file: &Path, key: &str) -> Result<Self> {
        let cmd = n.get("cmd").cloned().ok_or_else(|| err_at(file, n.line, key, "lock entry has no 'cmd'"))?;
        let list = |k: &str| parse_outs(n.get(k), file, &format!("{key}.{k}"));
        let mut params = Vec::new();
        if let Some(p) = n.get("params").and_then(Node::as_map) {
            for (f, kv) in p {
                params.push((f.clone(), kv.as_map().map(<[_]>::to_vec).unwrap_or_default()));
            }
        }
        Ok(LockStage { cmd, deps: list("deps")?, params, outs: list("outs")? })
    }
}

/// A list of out (or dep) entries; absent or empty is no entries.
fn parse_outs(list: Option<&Node>, file: &Path, key: &str) -> Result<Vec<LockOut>> {
    match list {
        None | Some(Node { value: Value::Null, .. }) => Ok(Vec::new()),
        Some(Node { value: Value::Seq(items), .. }) => items.iter().map(|i| parse_entry(i, file, key)).collect(),
        Some(other) => Err(err_at(file, other.line, key, "expected a list")),
    }
}

/// One out (or dep) entry of dvc.lock or a `.dvc` file. No `hash:` is a DVC 2.x entry
/// (md5-dos2unix); any value but `md5` is an error naming the file, line and value.
pub(crate) fn parse_entry(n: &Node, file: &Path, key: &str) -> Result<LockOut> {
    let s = |k: &str| n.get(k).and_then(|v| v.to_interp_string());
    let num = |k: &str| match n.get(k).map(|v| &v.value) {
        Some(Value::Int(i)) => Some(*i as u64),
        _ => None,
    };
    let path = s("path").ok_or_else(|| err_at(file, n.line, key, "entry without 'path'"))?;
    let algo = match s("hash").as_deref() {
        None => Algo::Dos2Unix,
        Some("md5") => Algo::Md5,
        Some(other) => return Err(err_at(file, n.line, key, format!("unsupported hash '{other}' (only md5)"))),
    };
    Ok(LockOut {
        path,
        algo,
        md5: s("md5").unwrap_or_default(),
        etag: s("etag"),
        size: num("size"),
        nfiles: num("nfiles"),
        isexec: matches!(n.get("isexec").map(|v| &v.value), Some(Value::Bool(true))),
    })
}

/// A whole dvc.lock, stage order preserved.
#[derive(Clone, Debug, Default)]
pub struct LockFile {
    pub(crate) stages: Vec<(String, LockStage)>,
}

impl LockFile {
    /// Reads `path`; a missing file is an empty lock.
    pub fn load(path: &Path) -> Result<Self> {
        if !path.exists() {
            return Ok(LockFile::default());
        }
        let doc = yaml::load_file(path)?;
        if let Some(s) = doc.get("schema")
            && s.as_str() != Some("2.0")
        {
            return Err(err_at(path, s.line, "schema", "unsupported dvc.lock schema (expected '2.0')"));
        }
        let mut stages = Vec::new();
        if let Some(m) = doc.get("stages").and_then(Node::as_map) {
            for (name, entry) in m {
                stages.push((name.clone(), LockStage::from_node(entry, path, &format!("stages.{name}"))?));
            }
        }
        Ok(LockFile { stages })
    }

    pub(crate) fn get(&self, name: &str) -> Option<&LockStage> {
        self.stages.iter().find(|(n, _)| n == name).map(|(_, s)| s)
    }

    /// Updates an entry in place, or appends a new one.
    pub(crate) fn set(&mut self, name: &str, entry: LockStage) {
        match self.stages.iter_mut().find(|(n, _)| n == name) {
            Some(slot) => slot.1 = entry,
            None => self.stages.push((name.to_string(), entry)),
        }
    }

    /// The stages as JSON keyed by name (an order-independent form, for comparisons).
    pub fn to_json(&self) -> serde_json::Value {
        self.stages.iter().map(|(name, entry)| (name.clone(), entry.to_node().to_json())).collect()
    }

    pub(crate) fn to_yaml(&self) -> String {
        let stages = self.stages.iter().map(|(n, s)| (n.clone(), s.to_node())).collect();
        let doc = Node::new(Value::Map(vec![
            ("schema".into(), Node::str("2.0")),
            ("stages".into(), Node::new(Value::Map(stages))),
        ]));
        yaml::emit(&doc)
    }

    /// Writes the lock durably: once a stage's entry is saved, a power cut cannot take it back
    /// while its outs stay in the workspace.
    pub(crate) fn save(&self, path: &Path) -> Result<()> {
        write_file(path, self.to_yaml().as_bytes(), Durability::Durable)
    }
}

/// Re-reads the lock, replaces one stage entry and writes it back atomically (so concurrent
/// edits of other entries and the entry order survive).
pub(crate) fn update_entry(path: &Path, name: &str, entry: LockStage) -> Result<()> {
    let mut lock = LockFile::load(path)?;
    lock.set(name, entry);
    lock.save(path)
}

/// A `.dvc` file (written by `add`): the outs it tracks, paths relative to its directory.
#[derive(Clone, Debug)]
pub(crate) struct DvcFile {
    pub(crate) path: PathBuf,
    pub(crate) outs: Vec<LockOut>,
}

impl DvcFile {
    pub(crate) fn load(path: &Path) -> Result<DvcFile> {
        let doc = yaml::load_file(path)?;
        Ok(DvcFile { path: path.to_path_buf(), outs: parse_outs(doc.get("outs"), path, "outs")? })
    }

    /// Each out with its absolute path.
    pub(crate) fn abs_outs(&self) -> Vec<(PathBuf, LockOut)> {
        let dir = self.path.parent().unwrap_or(Path::new("."));
        self.outs.iter().map(|o| (crate::dvcfile::normalize(&dir.join(&o.path)), o.clone())).collect()
    }

    /// Writes the file durably (it is what git tracks for the data).
    pub(crate) fn save(&self) -> Result<()> {
        let outs = Node::new(Value::Seq(self.outs.iter().map(LockOut::to_dvc_node).collect()));
        let text = yaml::emit(&Node::new(Value::Map(vec![("outs".into(), outs)])));
        write_file(&self.path, text.as_bytes(), Durability::Durable)
    }
}
