//! Weekly collection into a bucket, and the training set assembled from it.
//!
//! `collect` copies a new batch from a source into `<prefix>/<ISO week>/`: each valid CSV with a
//! `<file>.meta.json` beside it, then `manifest.json`, written last, which marks the batch
//! complete. A file whose md5 was collected before (any week) is not collected again; a run
//! that was killed half-way leaves data and metadata without a manifest, and the next run
//! completes that batch without copying anything twice; a run that finds nothing new writes
//! nothing, so an S3 dependency on the prefix stays unchanged and nothing retrains.
//!
//! `assemble` concatenates the files of the latest complete batches into one training CSV,
//! checking each against the md5 its batch recorded.

pub mod batch;
pub mod source;
pub mod week;

use std::collections::HashMap;
use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use atomic_file::Durability;
use dvc_pipeline::external::Location;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use batch::{FileMeta, MANIFEST, META_SUFFIX, Manifest, Skipped, inspect_csv};
use source::Source;
use week::IsoWeek;

/// Recorded in every metadata file and manifest.
pub const COLLECTOR_VERSION: &str = concat!("model-creation ", env!("CARGO_PKG_VERSION"));

/// `model-creation collect`.
#[derive(Debug, clap::Args)]
pub struct CollectArgs {
    /// Destination prefix, e.g. s3://bucket/raw/ (or remote://NAME/raw/ for a remote's endpoint
    /// and keys); the batch goes to <prefix>/<ISO week>/.
    #[arg(long)]
    pub to: String,
    /// `simulator`, a local directory or glob (quote it), or an s3://bucket/prefix/ or
    /// remote://NAME/prefix/ to copy from.
    #[arg(long)]
    pub source: String,
    /// The batch's ISO week, YYYY-Www (default: the current week, UTC). With the simulator it
    /// also seeds the data, so the same week gives the same files.
    #[arg(long)]
    pub week: Option<IsoWeek>,
    /// How many machines the simulator writes (one file each, a `machine` column inside).
    #[arg(long, default_value_t = 3)]
    pub machines: usize,
}

/// `model-creation assemble`.
#[derive(Debug, clap::Args)]
pub struct AssembleArgs {
    /// The collection prefix (what `collect --to` wrote to).
    #[arg(long)]
    pub from: String,
    /// How many of the latest complete batches (weeks with a manifest) to take.
    #[arg(long, default_value_t = 4)]
    pub weeks: usize,
    /// The CSV to write: one header, then every file's rows, in week and file order.
    #[arg(long)]
    pub out: PathBuf,
}

/// What one `collect` run did.
#[derive(Debug, Default)]
pub struct Report {
    pub week: String,
    /// Files copied by this run (names in the batch).
    pub collected: Vec<String>,
    /// Source files whose content was collected before: (source, where it is).
    pub already: Vec<(String, String)>,
    /// Source files that are not valid CSV.
    pub skipped: Vec<Skipped>,
    /// Whether this run wrote the manifest (false: the batch was complete and nothing was new).
    pub manifest_written: bool,
}

/// Runs `collect` from the command line.
pub fn run_collect(args: &CollectArgs) -> Result<Report> {
    let cwd = std::env::current_dir().context("reading the current directory")?;
    let env = object_storage::AwsEnv::from_process();
    let dest = dvc_pipeline::external::open(&args.to, &cwd, &env)?;
    let source = Source::parse(&args.source, args.machines, &cwd, &env)?;
    let now = OffsetDateTime::now_utc();
    let week = args.week.unwrap_or_else(|| IsoWeek::of(now));
    runtime()?.block_on(collect(&dest, &source, week, now))
}

/// Runs `assemble` from the command line; returns (weeks used, files, rows).
pub fn run_assemble(args: &AssembleArgs) -> Result<(Vec<String>, usize, u64)> {
    let cwd = std::env::current_dir().context("reading the current directory")?;
    let from = dvc_pipeline::external::open(&args.from, &cwd, &object_storage::AwsEnv::from_process())?;
    runtime()?.block_on(assemble(&from, &args.from, args.weeks, &args.out))
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread().enable_all().build().context("starting the async runtime")
}

/// The key of `rel` below the location's prefix.
fn key_of(at: &Location, rel: &str) -> String {
    if at.key.is_empty() { rel.to_string() } else { format!("{}/{rel}", at.key) }
}

/// What is already under the prefix, per week directory: its manifest, if the batch is complete,
/// and the metadata of every file collected so far.
struct Existing {
    manifests: HashMap<String, Manifest>,
    metas: HashMap<String, Vec<FileMeta>>,
}

async fn existing(at: &Location) -> Result<Existing> {
    let strip = if at.key.is_empty() { 0 } else { at.key.len() + 1 };
    let mut keys: Vec<String> =
        at.store.list(&at.key).await?.into_iter().filter_map(|k| k.get(strip..).map(str::to_string)).collect();
    keys.sort();
    let mut found = Existing { manifests: HashMap::new(), metas: HashMap::new() };
    for rel in keys.iter().filter(|k| k.ends_with(&format!("/{MANIFEST}"))) {
        let dir = rel.trim_end_matches(&format!("/{MANIFEST}")).to_string();
        let bytes = at.store.get(&key_of(at, rel)).await?;
        let manifest: Manifest =
            serde_json::from_slice(&bytes).with_context(|| format!("reading the batch manifest {rel}"))?;
        found.metas.insert(dir.clone(), manifest.files.clone());
        found.manifests.insert(dir, manifest);
    }
    // An incomplete batch (no manifest yet): its files' metadata says what it holds so far.
    for rel in keys.iter().filter(|k| k.ends_with(META_SUFFIX)) {
        let Some((dir, _)) = rel.split_once('/') else { continue };
        if found.manifests.contains_key(dir) {
            continue;
        }
        let bytes = at.store.get(&key_of(at, rel)).await?;
        let meta: FileMeta = serde_json::from_slice(&bytes).with_context(|| format!("reading {rel}"))?;
        found.metas.entry(dir.to_string()).or_default().push(meta);
    }
    Ok(found)
}

/// Collects one batch: see the module documentation.
pub async fn collect(dest: &Location, source: &Source, week: IsoWeek, now: OffsetDateTime) -> Result<Report> {
    let week_dir = week.to_string();
    let stamp = now.format(&Rfc3339).context("formatting the time")?;
    let found = existing(dest).await?;
    let mut known: HashMap<String, String> = HashMap::new();
    for (dir, metas) in &found.metas {
        for m in metas {
            known.insert(m.md5.clone(), format!("{dir}/{}", m.file));
        }
    }
    let mut files: Vec<FileMeta> = found.metas.get(&week_dir).cloned().unwrap_or_default();
    let old = found.manifests.get(&week_dir);
    let mut skipped: Vec<Skipped> = old.map(|m| m.skipped.clone()).unwrap_or_default();
    let mut report = Report { week: week_dir.clone(), ..Report::default() };
    for item in source.items().await? {
        let bytes = source.read(&item, week).await?;
        let md5 = model_core::artifact::md5_hex(&bytes);
        if let Some(at) = known.get(&md5) {
            report.already.push((item.origin.clone(), at.clone()));
            continue;
        }
        let shape = match inspect_csv(&bytes) {
            Ok(shape) => shape,
            Err(error) => {
                let entry = Skipped { source: item.origin.clone(), error: format!("not a valid CSV: {error}") };
                if !skipped.contains(&entry) {
                    skipped.push(entry.clone());
                }
                report.skipped.push(entry);
                continue;
            }
        };
        let name = free_name(&item.name, &md5, &files);
        let meta = FileMeta {
            file: name.clone(),
            source: item.origin.clone(),
            md5: md5.clone(),
            bytes: bytes.len() as u64,
            rows: shape.rows,
            columns: shape.columns,
            time_range: shape.time_range,
            collected_at: stamp.clone(),
            collector_version: COLLECTOR_VERSION.to_string(),
        };
        // The data first, then its metadata: metadata always describes data that is there.
        dest.store.put(&key_of(dest, &format!("{week_dir}/{name}")), bytes.into()).await?;
        let meta_json = serde_json::to_vec_pretty(&meta).context("encoding file metadata")?;
        dest.store.put(&key_of(dest, &format!("{week_dir}/{name}{META_SUFFIX}")), meta_json.into()).await?;
        known.insert(md5, format!("{week_dir}/{name}"));
        report.collected.push(name);
        files.push(meta);
    }
    files.sort_by(|a, b| a.file.cmp(&b.file));
    skipped.sort_by(|a, b| a.source.cmp(&b.source));
    let manifest = Manifest {
        week: week_dir.clone(),
        source: source.describe(),
        files,
        skipped,
        written_at: stamp,
        collector_version: COLLECTOR_VERSION.to_string(),
    };
    if manifest.files.is_empty() && manifest.skipped.is_empty() {
        return Ok(report);
    }
    if old.is_none_or(|m| !m.same_batch(&manifest)) {
        let bytes = serde_json::to_vec_pretty(&manifest).context("encoding the manifest")?;
        dest.store.put(&key_of(dest, &format!("{week_dir}/{MANIFEST}")), bytes.into()).await?;
        report.manifest_written = true;
    }
    Ok(report)
}

/// `name`, or `<stem>-<md5 prefix>.<ext>` when the batch already has a different file by that name.
fn free_name(name: &str, md5: &str, files: &[FileMeta]) -> String {
    match files.iter().find(|f| f.file == name) {
        None => name.to_string(),
        Some(f) if f.md5 == md5 => name.to_string(),
        Some(_) => match name.rsplit_once('.') {
            Some((stem, ext)) => format!("{stem}-{}.{ext}", &md5[..8]),
            None => format!("{name}-{}", &md5[..8]),
        },
    }
}

/// Writes the rows of the latest `weeks` complete batches under `from` into `out`.
pub async fn assemble(
    from: &Location,
    url: &str,
    weeks: usize,
    out: &std::path::Path,
) -> Result<(Vec<String>, usize, u64)> {
    if weeks == 0 {
        bail!("--weeks must be at least 1");
    }
    let found = existing(from).await?;
    let mut complete: Vec<(IsoWeek, &Manifest)> =
        found.manifests.iter().filter_map(|(dir, m)| dir.parse::<IsoWeek>().ok().map(|w| (w, m))).collect();
    complete.sort_by_key(|(w, _)| *w);
    if complete.is_empty() {
        bail!("no complete batch under {url} (a week directory with {MANIFEST}): run `collect` first");
    }
    let take = &complete[complete.len().saturating_sub(weeks)..];
    let shown = |rel: &str| format!("{}/{rel}", url.trim_end_matches('/'));
    let writing = |e: std::io::Error| anyhow::Error::new(e).context(format!("writing {}", out.display()));
    // Written as the files arrive (one in memory at a time), renamed into place when complete.
    let mut file = atomic_file::AtomicFile::create(out, Durability::Fast).map_err(writing)?;
    let mut header: Option<(String, String)> = None;
    let (mut files, mut rows) = (0usize, 0u64);
    for (week, manifest) in take {
        for f in &manifest.files {
            let rel = format!("{week}/{}", f.file);
            let bytes = from.store.get(&key_of(from, &rel)).await?;
            let md5 = model_core::artifact::md5_hex(&bytes);
            if md5 != f.md5 {
                bail!(
                    "{} has md5 {md5}, but its batch manifest records {}: the object changed after collection",
                    shown(&rel),
                    f.md5
                );
            }
            let split = bytes.iter().position(|&b| b == b'\n').map_or(bytes.len(), |i| i + 1);
            let this_header = String::from_utf8_lossy(&bytes[..split]).trim_end().to_string();
            match &header {
                None => {
                    writeln!(file, "{this_header}").map_err(writing)?;
                    header = Some((this_header, rel.clone()));
                }
                Some((h, first)) if *h != this_header => bail!(
                    "{} has the header '{this_header}', but {} has '{h}': a training set needs one set of columns",
                    shown(&rel),
                    shown(first)
                ),
                Some(_) => {}
            }
            let data = &bytes[split..];
            file.write_all(data).map_err(writing)?;
            if !data.is_empty() && !data.ends_with(b"\n") {
                file.write_all(b"\n").map_err(writing)?;
            }
            files += 1;
            rows += f.rows;
        }
    }
    file.commit().map_err(writing)?;
    Ok((take.iter().map(|(w, _)| w.to_string()).collect(), files, rows))
}
