//! `.dvc/config` and `.dvc/config.local` (configobj INI): reading both section-header forms
//! (`['remote "s3r"']` and `[remote "s3r"]`), writing the form dvc writes.

use std::path::{Path, PathBuf};

use atomic_file::Durability;

use crate::error::{Error, Result};
use crate::repo::{Repo, write_file, write_private_file};

/// One config file: ordered sections with ordered `key = value` pairs.
#[derive(Clone, Debug, Default)]
pub(crate) struct ConfigFile {
    pub(crate) path: PathBuf,
    pub(crate) sections: Vec<(String, Vec<(String, String)>)>,
}

impl ConfigFile {
    pub(crate) fn load(path: &Path) -> Result<Self> {
        let mut cf = ConfigFile { path: path.to_path_buf(), sections: Vec::new() };
        let Ok(text) = std::fs::read_to_string(path) else { return Ok(cf) };
        for (n, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
                continue;
            }
            if line.starts_with('[') {
                let inner = line.trim_start_matches('[').trim_end_matches(']').trim();
                let name = inner.trim_matches('\'').to_string();
                cf.sections.push((name, Vec::new()));
                continue;
            }
            let Some((k, v)) = line.split_once('=') else {
                return Err(Error::Config {
                    file: path.to_path_buf(),
                    message: format!("line {}: expected 'key = value', found '{line}'", n + 1),
                });
            };
            let Some(sec) = cf.sections.last_mut() else {
                return Err(Error::Config {
                    file: path.to_path_buf(),
                    message: format!("line {}: '{}' outside any [section]", n + 1, k.trim()),
                });
            };
            let v = v.trim();
            let v = v
                .strip_prefix('"')
                .and_then(|x| x.strip_suffix('"'))
                .or_else(|| v.strip_prefix('\'').and_then(|x| x.strip_suffix('\'')))
                .unwrap_or(v);
            sec.1.push((k.trim().to_string(), v.to_string()));
        }
        Ok(cf)
    }

    pub(crate) fn get(&self, section: &str, key: &str) -> Option<&str> {
        self.sections.iter().find(|(s, _)| s == section)?.1.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    pub(crate) fn set(&mut self, section: &str, key: &str, value: &str) {
        let idx = match self.sections.iter().position(|(s, _)| s == section) {
            Some(i) => i,
            None => {
                self.sections.push((section.to_string(), Vec::new()));
                self.sections.len() - 1
            }
        };
        let sec = &mut self.sections[idx].1;
        match sec.iter_mut().find(|(k, _)| k == key) {
            Some(slot) => slot.1 = value.to_string(),
            None => sec.push((key.to_string(), value.to_string())),
        }
    }

    pub(crate) fn unset(&mut self, section: &str, key: &str) {
        if let Some((_, sec)) = self.sections.iter_mut().find(|(s, _)| s == section) {
            sec.retain(|(k, _)| k != key);
        }
    }

    pub(crate) fn save(&self) -> Result<()> {
        let mut out = String::new();
        for (name, kv) in &self.sections {
            if name.contains(' ') || name.contains('"') {
                out.push_str(&format!("['{name}']\n"));
            } else {
                out.push_str(&format!("[{name}]\n"));
            }
            for (k, v) in kv {
                out.push_str(&format!("    {k} = {v}\n"));
            }
        }
        // Durable: the user's settings (remotes, keys in config.local), written rarely and small.
        // config.local holds keys (`remote modify --local ... secret_access_key`): its owner's
        // only (config, without keys, is the one shared through git).
        if self.path.file_name().is_some_and(|n| n == "config.local") {
            write_private_file(&self.path, out.as_bytes(), Durability::Durable)
        } else {
            write_file(&self.path, out.as_bytes(), Durability::Durable)
        }
    }
}

/// Repo config merged from `.dvc/config` and `.dvc/config.local` (local wins).
#[derive(Clone, Debug)]
pub struct Config {
    pub(crate) repo: ConfigFile,
    pub(crate) local: ConfigFile,
}

/// A configured remote.
#[derive(Clone, Debug)]
pub struct RemoteConfig {
    pub(crate) name: String,
    pub(crate) url: String,
    pub(crate) options: Vec<(String, String)>,
}

impl Config {
    pub fn load(repo: &Repo) -> Result<Self> {
        Ok(Config {
            repo: ConfigFile::load(&repo.dvc_dir().join("config"))?,
            local: ConfigFile::load(&repo.dvc_dir().join("config.local"))?,
        })
    }

    pub(crate) fn get(&self, section: &str, key: &str) -> Option<&str> {
        self.local.get(section, key).or_else(|| self.repo.get(section, key))
    }

    pub(crate) fn remote_names(&self) -> Vec<String> {
        let mut names = Vec::new();
        for cf in [&self.repo, &self.local] {
            for (s, _) in &cf.sections {
                if let Some(n) = remote_name(s)
                    && !names.contains(&n)
                {
                    names.push(n);
                }
            }
        }
        names
    }

    /// The named remote, or the default one (`[core] remote`).
    pub fn remote(&self, name: Option<&str>) -> Result<RemoteConfig> {
        let name = match name {
            Some(n) => n.to_string(),
            None => self.get("core", "remote").map(str::to_string).ok_or(Error::NoDefaultRemote)?,
        };
        let section = format!("remote \"{name}\"");
        let mut options: Vec<(String, String)> = Vec::new();
        for cf in [&self.repo, &self.local] {
            if let Some((_, kv)) = cf.sections.iter().find(|(s, _)| s == &section) {
                for (k, v) in kv {
                    match options.iter_mut().find(|(ok, _)| ok == k) {
                        Some(slot) => slot.1 = v.clone(),
                        None => options.push((k.clone(), v.clone())),
                    }
                }
            }
        }
        let url = options
            .iter()
            .find(|(k, _)| k == "url")
            .map(|(_, v)| v.clone())
            .ok_or_else(|| Error::RemoteNotConfigured { name: name.clone(), known: self.remote_names() })?;
        Ok(RemoteConfig { name, url, options })
    }
}

fn remote_name(section: &str) -> Option<String> {
    let rest = section.strip_prefix("remote ")?.trim();
    Some(rest.trim_matches('"').to_string())
}

/// Section name of a remote.
pub(crate) fn remote_section(name: &str) -> String {
    format!("remote \"{name}\"")
}

/// Which config file a `remote` command writes.
fn target(repo: &Repo, local: bool) -> Result<ConfigFile> {
    ConfigFile::load(&repo.dvc_dir().join(if local { "config.local" } else { "config" }))
}

/// `remote add [-d] [-f] [--local] NAME URL`. A local path is stored relative to `.dvc/`,
/// as dvc stores it.
pub fn remote_add(
    repo: &Repo,
    cwd: &Path,
    name: &str,
    url: &str,
    default: bool,
    force: bool,
    local: bool,
) -> Result<()> {
    let mut cf = target(repo, local)?;
    let section = remote_section(name);
    if !force && cf.sections.iter().any(|(s, _)| s == &section) {
        return Err(Error::RemoteExists { name: name.to_string() });
    }
    let stored = if url.contains("://") || Path::new(url).is_absolute() {
        url.to_string()
    } else {
        let abs = crate::dvcfile::normalize(&cwd.join(url));
        relative_to(&abs, &repo.dvc_dir())
    };
    cf.sections.retain(|(s, _)| s != &section);
    cf.set(&section, "url", &stored);
    if default {
        cf.set("core", "remote", name);
        move_core_first(&mut cf);
    }
    cf.save()
}

fn move_core_first(cf: &mut ConfigFile) {
    if let Some(i) = cf.sections.iter().position(|(s, _)| s == "core") {
        let core = cf.sections.remove(i);
        cf.sections.insert(0, core);
    }
}

/// `remote modify [--local] [--unset] NAME KEY [VALUE]`.
pub fn remote_modify(repo: &Repo, name: &str, key: &str, value: Option<&str>, unset: bool, local: bool) -> Result<()> {
    let all = Config::load(repo)?;
    if !all.remote_names().iter().any(|n| n == name) {
        return Err(Error::UnknownRemote { name: name.to_string() });
    }
    let mut cf = target(repo, local)?;
    let section = remote_section(name);
    match (unset, value) {
        (true, _) => cf.unset(&section, key),
        (false, Some(v)) => cf.set(&section, key, v),
        (false, None) => return Err(Error::MissingValue { name: name.to_string(), key: key.to_string() }),
    }
    cf.save()
}

/// `remote default NAME`.
pub fn remote_default(repo: &Repo, name: &str, local: bool) -> Result<()> {
    let mut cf = target(repo, local)?;
    cf.set("core", "remote", name);
    move_core_first(&mut cf);
    cf.save()
}

/// `remote list`: `(name, url)`.
pub fn remote_list(repo: &Repo) -> Result<Vec<(String, String)>> {
    let c = Config::load(repo)?;
    c.remote_names().into_iter().map(|n| c.remote(Some(&n)).map(|r| (n, r.url))).collect()
}

/// `target` expressed relative to directory `base` (both absolute).
pub(crate) fn relative_to(target: &Path, base: &Path) -> String {
    let t: Vec<_> = target.components().collect();
    let b: Vec<_> = base.components().collect();
    let common = t.iter().zip(&b).take_while(|(x, y)| x == y).count();
    let mut parts: Vec<String> = vec!["..".to_string(); b.len() - common];
    parts.extend(t[common..].iter().map(|c| c.as_os_str().to_string_lossy().into_owned()));
    if parts.is_empty() { ".".into() } else { parts.join("/") }
}
