//! Where a batch comes from: the simulator (a week of a few machines, seeded by the week), a
//! local directory or glob (an edge gateway's drop folder), or another S3 prefix.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use dvc_pipeline::external::Location;
use object_storage::AwsEnv;

use super::week::IsoWeek;
use crate::simulate::{SimulateOptions, generate, write_csv};

/// Rows the simulator writes per machine and week: one every 10 minutes.
const SIMULATED_ROWS: usize = 7 * 24 * 6;
/// The column the simulator names each file's machine in (what `data.group_by` can use).
pub const SIMULATED_GROUP_COLUMN: &str = "machine";

/// A batch source.
pub enum Source {
    /// `simulator`: `machines` files `machine-01.csv`, ...
    Simulator { machines: usize },
    /// Files on this machine: the regular files of a directory, or those a glob matches.
    Local { spec: String },
    /// Every object under an `s3://` or `remote://NAME/` prefix.
    Store { url: String, location: Location },
}

/// One file a source offers.
#[derive(Clone, Debug)]
pub struct Item {
    /// The file name it is collected under.
    pub name: String,
    /// Where it is (a path, a URL, `simulator:<name>`), as recorded in its metadata.
    pub origin: String,
    what: What,
}

#[derive(Clone, Debug)]
enum What {
    Simulated { index: usize },
    Path(PathBuf),
    Key(String),
}

impl Source {
    /// `simulator`, a directory or glob, or an `s3://` / `remote://NAME/` prefix.
    pub fn parse(spec: &str, machines: usize, cwd: &Path, env: &AwsEnv) -> Result<Source> {
        if spec == "simulator" {
            if machines == 0 {
                bail!("--machines must be at least 1 for the simulator");
            }
            return Ok(Source::Simulator { machines });
        }
        if spec.starts_with("s3://") || spec.starts_with("remote://") {
            let location = dvc_pipeline::external::open(spec, cwd, env)?;
            return Ok(Source::Store { url: spec.to_string(), location });
        }
        if spec.contains("://") {
            bail!("--source '{spec}': expected simulator, a directory or glob, or an s3:// or remote://NAME/ prefix");
        }
        Ok(Source::Local { spec: spec.to_string() })
    }

    pub fn describe(&self) -> String {
        match self {
            Source::Simulator { machines } => format!("simulator ({machines} machines)"),
            Source::Local { spec } => spec.clone(),
            Source::Store { url, .. } => url.clone(),
        }
    }

    /// The files on offer, in a stable order.
    pub async fn items(&self) -> Result<Vec<Item>> {
        let mut items: Vec<Item> = match self {
            Source::Simulator { machines } => (0..*machines)
                .map(|index| {
                    let name = format!("machine-{:02}.csv", index + 1);
                    Item { origin: format!("simulator:{name}"), name, what: What::Simulated { index } }
                })
                .collect(),
            Source::Local { spec } => local_files(spec)?
                .into_iter()
                .map(|path| Item {
                    name: file_name(&path.to_string_lossy()),
                    origin: path.display().to_string(),
                    what: What::Path(path),
                })
                .collect(),
            Source::Store { url, location } => {
                let objects = location.store.list_info(&location.key).await?;
                let base = url.trim_end_matches('/');
                let strip = if location.key.is_empty() { 0 } else { location.key.len() + 1 };
                objects
                    .into_iter()
                    .filter(|o| !o.key.ends_with('/') && !file_name(&o.key).starts_with('.'))
                    .map(|o| Item {
                        name: file_name(&o.key),
                        origin: format!("{base}/{}", o.key.get(strip..).unwrap_or(&o.key)),
                        what: What::Key(o.key),
                    })
                    .collect()
            }
        };
        items.sort_by(|a, b| a.origin.cmp(&b.origin));
        Ok(items)
    }

    /// An item's bytes (the simulator makes them: the same week and file give the same bytes).
    pub async fn read(&self, item: &Item, week: IsoWeek) -> Result<Vec<u8>> {
        match (&item.what, self) {
            (What::Simulated { index }, _) => simulated(week, *index, &item.name),
            (What::Path(p), _) => std::fs::read(p).with_context(|| format!("reading {}", p.display())),
            (What::Key(k), Source::Store { location, .. }) => Ok(location.store.get(k).await?.to_vec()),
            (What::Key(k), _) => bail!("object '{k}' listed by a source that has no store"),
        }
    }
}

/// The last `/`-separated component.
fn file_name(path: &str) -> String {
    path.rsplit('/').next().unwrap_or(path).to_string()
}

/// The regular files of a directory (not below it, none hidden), or the files a glob matches.
fn local_files(spec: &str) -> Result<Vec<PathBuf>> {
    let path = Path::new(spec);
    if path.is_dir() {
        let mut files = Vec::new();
        for entry in std::fs::read_dir(path).with_context(|| format!("listing {spec}"))? {
            let entry = entry.with_context(|| format!("listing {spec}"))?;
            let hidden = entry.file_name().to_string_lossy().starts_with('.');
            if !hidden && entry.path().is_file() {
                files.push(entry.path());
            }
        }
        return Ok(files);
    }
    if !spec.contains(['*', '?', '[']) {
        if path.is_file() {
            return Ok(vec![path.to_path_buf()]);
        }
        bail!("--source '{spec}' is neither a directory, a file, nor a glob that matches files");
    }
    let mut files = Vec::new();
    for entry in glob::glob(spec).with_context(|| format!("--source '{spec}' is not a valid glob"))? {
        let path = entry.with_context(|| format!("reading a match of {spec}"))?;
        if path.is_file() {
            files.push(path);
        }
    }
    Ok(files)
}

/// One simulated machine-week: the pump loop of `simulate`, seeded by the week and the file.
fn simulated(week: IsoWeek, index: usize, name: &str) -> Result<Vec<u8>> {
    let seed = model_core::stable_hash::fnv1a(format!("{week}/{name}").as_bytes());
    let data = generate(&SimulateOptions { seed, train_rows: SIMULATED_ROWS, test_rows: 0 });
    let mut out = Vec::with_capacity(SIMULATED_ROWS * 64);
    let machine = format!("m{:02}", index + 1);
    write_csv(&mut out, &data.train, week.start_seconds(), Some((SIMULATED_GROUP_COLUMN, &machine)))?;
    Ok(out)
}
