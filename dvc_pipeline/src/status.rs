//! `status`: which stages and `.dvc` files are out of date, as `dvc status [--json]` shows it.

use crate::error::Result;
use crate::project::{Project, StageStatus};

/// `(name, status)` for every stage or `.dvc` file that is not up to date, in DAG order.
pub fn status(project: &Project) -> Result<Vec<(String, serde_json::Value)>> {
    let p = &project.pipeline;
    let mut out = Vec::new();
    for i in p.order(&(0..p.stages.len()).collect::<Vec<_>>())? {
        let s = &p.stages[i];
        if s.frozen {
            continue;
        }
        let lock = project.lock_of(s)?;
        let st = project.stage_status(s, lock.get(&s.name))?;
        if !st.is_clean() {
            out.push((p.display_name(i), st.to_json()));
        }
    }
    for f in &p.dvc_files {
        let mut st = StageStatus::default();
        for (abs, e) in crate::lock::DvcFile::load(f)?.abs_outs() {
            match project.hash(&abs, e.algo)? {
                None => st.outs.push((e.path.clone(), "deleted".into())),
                Some(h) if h.md5 != e.md5 => st.outs.push((e.path.clone(), "modified".into())),
                Some(_) => {}
            }
        }
        if !st.is_clean() {
            out.push((project.repo.rel(f), st.to_json()));
        }
    }
    project.state.save();
    Ok(out)
}

/// Human-readable form, like dvc's.
pub fn render(items: &[(String, serde_json::Value)]) -> String {
    if items.is_empty() {
        return "Data and pipelines are up to date.\n".into();
    }
    let mut s = String::new();
    for (name, v) in items {
        s.push_str(&format!("{name}:\n"));
        for item in v.as_array().into_iter().flatten() {
            match item {
                serde_json::Value::String(t) => s.push_str(&format!("\t{t}\n")),
                serde_json::Value::Object(m) => {
                    for (section, entries) in m {
                        s.push_str(&format!("\t{section}:\n"));
                        for (path, what) in entries.as_object().into_iter().flatten() {
                            match what {
                                serde_json::Value::String(w) => {
                                    s.push_str(&format!("\t\t{:<20}{path}\n", format!("{w}:")))
                                }
                                serde_json::Value::Object(keys) => {
                                    s.push_str(&format!("\t\tmodified:           {path}\n"));
                                    for (k, w) in keys {
                                        s.push_str(&format!(
                                            "\t\t\t{:<12}{k}\n",
                                            format!("{}:", w.as_str().unwrap_or(""))
                                        ));
                                    }
                                }
                                _ => {}
                            }
                        }
                    }
                }
                _ => {}
            }
        }
    }
    s
}
