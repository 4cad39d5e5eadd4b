//! `batch-score`: every CSV under an S3 prefix scored into `<name>.scores.csv` (the columns
//! `score` writes) and `<name>.summary.json` under an output prefix, then one manifest per
//! shard, written last; `--summary` merges the shards' manifests.
//!
//! Built for Kubernetes Indexed Jobs: `--shard i/n` (or `--shards n` with the pod's
//! `JOB_COMPLETION_INDEX`) takes the files whose key hashes to `i` (a stable hash, so every pod
//! agrees). A file that fails (not CSV, missing columns) is recorded and the rest go on (exit
//! status 3). A rerun skips inputs whose ETag and model match their summary, so a killed run
//! finishes only the rest. Memory stays bounded whatever the file size: each file is read as
//! it downloads (`Store::read_streamed`), scored ([`RowScorer`]) and written a piece at a time.

use std::collections::HashMap;
use std::io::{BufRead, BufWriter, IsTerminal, Write};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use dvc_pipeline::external::Location;
use model_core::data::{CsvRows, PlainRows};
use model_core::score::RowScorer;
use model_core::set_stream::{GroupTotals, SetRowScorer};
use model_core::{Artifact, Columns, Model, ModelSet};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::commands::{SCORES_HEADER, write_score_row};
use crate::shard::Shard;

/// Rows read and scored at a time.
const ROWS_PER_PIECE: usize = 8192;
/// How often progress is logged when stderr is not a terminal (a Job's log).
const LOG_EVERY: Duration = Duration::from_secs(10);
/// The directory of the shard manifests, under the output prefix.
const MANIFESTS: &str = "_manifests";

/// `model-creation batch-score`.
#[derive(Debug, clap::Args)]
pub struct BatchScoreArgs {
    /// The model: a model directory, or a registry reference (NAME, NAME@ALIAS, NAME:VERSION)
    /// looked up in --registry.
    #[arg(long, required_unless_present = "summary")]
    pub model: Option<String>,
    /// Where the registry is, for a model reference (s3://bucket/prefix or a directory).
    #[arg(long, env = "MODEL_REGISTRY")]
    pub registry: Option<String>,
    /// The input prefix: every .csv below it is scored (s3://bucket/in/ or remote://NAME/in/).
    #[arg(long, required_unless_present = "summary")]
    pub input: Option<String>,
    /// The output prefix: <name>.scores.csv, <name>.summary.json, and _manifests/.
    #[arg(long)]
    pub output: String,
    /// This process's share of the files, `i/n` (0-based i): for an Indexed Job's pods.
    #[arg(long, conflicts_with = "shards")]
    pub shard: Option<Shard>,
    /// The number of shards, this process's index taken from JOB_COMPLETION_INDEX (which a
    /// Kubernetes Indexed Job gives each pod).
    #[arg(long)]
    pub shards: Option<usize>,
    /// Files scored at once (default: every core).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Merge the shard manifests under --output and print the totals instead of scoring.
    #[arg(long)]
    pub summary: bool,
}

/// `<name>.summary.json`: one input file's result.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FileSummary {
    pub input: String,
    /// The input's ETag when it was scored: a rerun skips the file while it is unchanged.
    pub input_etag: String,
    /// The scores file (none when the file could not be scored).
    pub output: Option<String>,
    /// `NAME:VERSION` from the registry, `md5:<weights md5>` for a model directory, or
    /// `set:<version>` for a model set's directory.
    pub model: String,
    pub rows: u64,
    pub anomalies: u64,
    /// The model's threshold (none for a model set: each group has its own, in `groups`).
    pub threshold: Option<f64>,
    /// With a model set: each group of the file, in the order they first appear.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<GroupSummary>,
    pub seconds: f64,
    pub scored_at: String,
    /// Why the file could not be scored (then nothing else was written for it).
    pub error: Option<String>,
}

/// One group of a file scored with a model set.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GroupSummary {
    pub group: String,
    /// The version of the model that scored it.
    pub model_version: String,
    /// True when the set has no model for the group and its fallback scored it.
    pub fallback: bool,
    pub threshold: f64,
    pub rows: u64,
    pub anomalies: u64,
}

impl From<GroupTotals> for GroupSummary {
    fn from(g: GroupTotals) -> Self {
        GroupSummary {
            group: g.group,
            model_version: g.version,
            fallback: g.fallback,
            threshold: g.threshold,
            rows: g.rows,
            anomalies: g.anomalies,
        }
    }
}

/// One failed file in a manifest.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Failure {
    pub input: String,
    pub error: String,
}

/// `_manifests/shard-<i>-of-<n>.json`, written when the shard's files are done.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ShardManifest {
    pub shard: usize,
    pub shards: usize,
    pub model: String,
    pub input: String,
    pub files: u64,
    /// Of `files`, those an earlier run had already scored (same ETag and model).
    pub reused: u64,
    pub rows: u64,
    pub anomalies: u64,
    pub failures: Vec<Failure>,
    pub started_at: String,
    pub finished_at: String,
    pub seconds: f64,
}

/// What `--summary` prints.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub shards: usize,
    pub shards_found: Vec<usize>,
    pub shards_missing: Vec<usize>,
    pub models: Vec<String>,
    pub files: u64,
    pub rows: u64,
    pub anomalies: u64,
    pub failures: Vec<Failure>,
}

/// How a run ended.
pub enum Ended {
    Scored(ShardManifest),
    Summarised(Summary),
}

/// Runs `batch-score` from the command line.
pub fn run(args: &BatchScoreArgs) -> Result<Ended> {
    let cwd = std::env::current_dir().context("reading the current directory")?;
    let env = object_storage::AwsEnv::from_process();
    let output = dvc_pipeline::external::open(&args.output, &cwd, &env)?;
    let runtime =
        tokio::runtime::Builder::new_multi_thread().enable_all().build().context("starting the async runtime")?;
    if args.summary {
        return Ok(Ended::Summarised(runtime.block_on(summarise(&output, &args.output))?));
    }
    let (Some(model_arg), Some(input_url)) = (&args.model, &args.input) else {
        bail!("batch-score needs --model and --input (or --summary)");
    };
    let shard = match (args.shard, args.shards) {
        (Some(s), _) => s,
        (None, Some(count)) => {
            let index = std::env::var("JOB_COMPLETION_INDEX")
                .context("--shards needs JOB_COMPLETION_INDEX (set by an Indexed Job); or pass --shard i/n")?;
            let index: usize =
                index.trim().parse().with_context(|| format!("JOB_COMPLETION_INDEX={index:?} is not a number"))?;
            Shard::new(index, count).map_err(anyhow::Error::msg).context("JOB_COMPLETION_INDEX and --shards")?
        }
        (None, None) => Shard { index: 0, count: 1 },
    };
    let input = dvc_pipeline::external::open(input_url, &cwd, &env)?;
    let (model, model_id) = runtime.block_on(load_model(model_arg, args.registry.as_deref()))?;
    let threads = args.threads.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get())).max(1);
    let job = Job { input, input_url: input_url.clone(), output, output_url: args.output.clone(), model, model_id };
    Ok(Ended::Scored(runtime.block_on(score_shard(Arc::new(job), shard, threads))?))
}

/// A model or model set directory, or a registry reference; with the identity summaries record.
async fn load_model(arg: &str, registry: Option<&str>) -> Result<(Artifact, String)> {
    let dir = Path::new(arg);
    if dir.is_dir() {
        let artifact = Artifact::load(dir).with_context(|| format!("loading the model in {arg}"))?;
        let id = match &artifact {
            // The md5 the metadata records, which loading checked against the weights.
            Artifact::Single(model) => format!("md5:{}", model.meta.weights_md5),
            Artifact::Set(set) => format!("set:{}", set.manifest.version),
        };
        return Ok((artifact, id));
    }
    let reference: model_registry::ModelRef = arg
        .parse()
        .with_context(|| format!("--model '{arg}' is neither a model directory nor a registry reference"))?;
    let Some(root) = registry.filter(|r| !r.trim().is_empty()) else {
        bail!("--model '{arg}' is a registry reference: pass --registry (or set MODEL_REGISTRY)");
    };
    let registry = model_registry::Registry::open(root)?;
    let card = registry.resolve(&reference).await?;
    let files = registry.fetch_version(&card.name, &card.version).await?;
    let artifact = files.load(Path::new(arg)).with_context(|| format!("loading {}:{}", card.name, card.version))?;
    Ok((artifact, format!("{}:{}", card.name, card.version)))
}

/// Everything the files of one run share.
struct Job {
    input: Location,
    input_url: String,
    output: Location,
    output_url: String,
    model: Artifact,
    model_id: String,
}

impl Job {
    fn out_key(&self, rel: &str) -> String {
        if self.output.key.is_empty() { rel.to_string() } else { format!("{}/{rel}", self.output.key) }
    }

    fn in_url(&self, rel: &str) -> String {
        format!("{}/{rel}", self.input_url.trim_end_matches('/'))
    }

    fn out_url(&self, rel: &str) -> String {
        format!("{}/{rel}", self.output_url.trim_end_matches('/'))
    }
}

/// One input's end: its summary and whether an earlier run had written it, or the error.
type Outcome = Result<(FileSummary, bool), String>;

/// An input: its key relative to the input prefix, and its ETag.
struct Input {
    rel: String,
    etag: String,
}

/// `sub/a.csv` -> `sub/a` (outputs are `sub/a.scores.csv` and `sub/a.summary.json`).
fn stem(rel: &str) -> &str {
    if rel.len() >= 4 && rel[rel.len() - 4..].eq_ignore_ascii_case(".csv") { &rel[..rel.len() - 4] } else { rel }
}

async fn score_shard(job: Arc<Job>, shard: Shard, threads: usize) -> Result<ShardManifest> {
    let started = OffsetDateTime::now_utc();
    let clock = Instant::now();
    let strip = if job.input.key.is_empty() { 0 } else { job.input.key.len() + 1 };
    let mut inputs: Vec<Input> = job
        .input
        .store
        .list_info(&job.input.key)
        .await?
        .into_iter()
        .filter_map(|o| {
            let rel = o.key.get(strip..)?.to_string();
            let is_csv = rel.len() > 4 && rel[rel.len() - 4..].eq_ignore_ascii_case(".csv");
            (is_csv && !rel.ends_with(".scores.csv") && shard.owns(&rel))
                .then(|| Input { etag: o.etag.unwrap_or_default().trim_matches('"').to_string(), rel })
        })
        .collect();
    inputs.sort_by(|a, b| a.rel.cmp(&b.rel));
    // Summaries already written: a rerun skips what is done.
    let out_strip = if job.output.key.is_empty() { 0 } else { job.output.key.len() + 1 };
    let existing: std::collections::HashSet<String> = job
        .output
        .store
        .list(&job.output.key)
        .await?
        .into_iter()
        .filter_map(|k| k.get(out_strip..).map(str::to_string))
        .collect();
    let total = inputs.len() as u64;
    let progress = Progress::start(total);
    let mut results: Vec<(String, Outcome)> = Vec::with_capacity(inputs.len());
    let mut pending = futures::stream::iter(inputs.into_iter().map(|input| {
        let job = Arc::clone(&job);
        let done = existing.contains(&format!("{}.summary.json", stem(&input.rel)));
        let progress = progress.clone();
        async move {
            let url = job.in_url(&input.rel);
            let result = score_input(&job, &input, done).await.map_err(|e| format!("{e:#}"));
            progress.file_done(result.as_ref().map_or(0, |(s, _)| s.rows), result.is_err(), &url);
            (url, result)
        }
    }))
    .buffer_unordered(threads);
    use futures::StreamExt;
    while let Some(r) = pending.next().await {
        results.push(r);
    }
    progress.finish();
    results.sort_by(|a, b| a.0.cmp(&b.0));
    let mut manifest = ShardManifest {
        shard: shard.index,
        shards: shard.count,
        model: job.model_id.clone(),
        input: job.input_url.clone(),
        files: total,
        reused: 0,
        rows: 0,
        anomalies: 0,
        failures: Vec::new(),
        started_at: started.format(&Rfc3339).unwrap_or_default(),
        finished_at: String::new(),
        seconds: 0.0,
    };
    for (input, result) in results {
        match result {
            Ok((summary, reused)) => {
                manifest.rows += summary.rows;
                manifest.anomalies += summary.anomalies;
                manifest.reused += u64::from(reused);
            }
            Err(error) => manifest.failures.push(Failure { input, error }),
        }
    }
    manifest.finished_at = OffsetDateTime::now_utc().format(&Rfc3339).unwrap_or_default();
    manifest.seconds = clock.elapsed().as_secs_f64();
    let key = job.out_key(&format!("{MANIFESTS}/shard-{:04}-of-{:04}.json", shard.index, shard.count));
    let bytes = serde_json::to_vec_pretty(&manifest).context("encoding the shard manifest")?;
    job.output.store.put(&key, bytes.into()).await?;
    Ok(manifest)
}

/// Scores one input, unless its summary says it was scored already from the same ETag with the
/// same model. Returns its summary and whether it was reused.
async fn score_input(job: &Arc<Job>, input: &Input, maybe_done: bool) -> Result<(FileSummary, bool)> {
    let base = stem(&input.rel).to_string();
    let summary_key = job.out_key(&format!("{base}.summary.json"));
    if maybe_done {
        let bytes = job.output.store.get(&summary_key).await?;
        if let Ok(old) = serde_json::from_slice::<FileSummary>(&bytes)
            && old.error.is_none()
            && old.input_etag == input.etag
            && old.model == job.model_id
        {
            return Ok((old, true));
        }
    }
    let clock = Instant::now();
    let temp = tempfile::tempdir().context("creating a temporary directory")?;
    let scores = temp.path().join("scores.csv");
    let in_key = if job.input.key.is_empty() { input.rel.clone() } else { format!("{}/{}", job.input.key, input.rel) };
    let scored = score_object(job, &in_key, &scores, &job.in_url(&input.rel)).await?;
    let mut summary = FileSummary {
        input: job.in_url(&input.rel),
        input_etag: input.etag.clone(),
        output: None,
        model: job.model_id.clone(),
        rows: 0,
        anomalies: 0,
        threshold: match &job.model {
            Artifact::Single(model) => Some(model.meta.threshold.value),
            Artifact::Set(_) => None,
        },
        groups: Vec::new(),
        seconds: 0.0,
        scored_at: OffsetDateTime::now_utc().format(&Rfc3339).unwrap_or_default(),
        error: None,
    };
    let result = match scored {
        Ok((rows, anomalies, groups)) => {
            summary.groups = groups;
            job.output.store.put_file(&job.out_key(&format!("{base}.scores.csv")), &scores).await?;
            summary.output = Some(job.out_url(&format!("{base}.scores.csv")));
            summary.rows = rows;
            summary.anomalies = anomalies;
            Ok(())
        }
        Err(e) => {
            summary.error = Some(format!("{e:#}"));
            Err(e)
        }
    };
    summary.seconds = clock.elapsed().as_secs_f64();
    // The summary last: it says the scores beside it are complete.
    let bytes = serde_json::to_vec_pretty(&summary).context("encoding the file summary")?;
    job.output.store.put(&summary_key, bytes.into()).await?;
    result.map(|()| (summary, false))
}

/// Scores the object `key` as it downloads and writes the scores CSV to `scores`; returns the
/// rows, how many are anomalies and (for a model set) each group's totals. The outer error is the
/// download's (the file gets no summary: a rerun tries it again), the inner one the scoring's.
/// Plain CSV (no quotes, plain numbers: what sensors write) is read by the fast path; anything
/// else, errors included, by the full reader, from the start (a second download: the first
/// pass keeps no copy).
async fn score_object(job: &Arc<Job>, key: &str, scores: &Path, source: &str) -> Result<Result<Scored>> {
    let store = &job.input.store;
    if matches!(job.model, Artifact::Single(_)) {
        let (job, out, source) = (Arc::clone(job), scores.to_path_buf(), source.to_string());
        let plain = store
            .read_streamed(key, move |data| match &job.model {
                Artifact::Single(model) => score_plain(model, data, &out, &source),
                Artifact::Set(_) => Ok(None),
            })
            .await?;
        if let Some(done) = plain.transpose() {
            return Ok(done.map(|(rows, anomalies)| (rows, anomalies, Vec::new())));
        }
    }
    let (job, out, source) = (Arc::clone(job), scores.to_path_buf(), source.to_string());
    Ok(store
        .read_streamed(key, move |data| match &job.model {
            Artifact::Single(model) => score_full(model, data, &out, &source).map(|(r, a)| (r, a, Vec::new())),
            Artifact::Set(set) => score_set(set, data, &out, &source),
        })
        .await?)
}

/// What scoring one input gives: rows, anomalies, and a model set's totals per group.
type Scored = (u64, u64, Vec<GroupSummary>);

/// Reads `data` a piece at a time through the full CSV reader, scores it and writes the scores
/// CSV to `out`; returns the rows and how many are anomalies.
fn score_full(model: &Model, data: &mut dyn BufRead, out: &Path, source: &str) -> Result<(u64, u64)> {
    let mut rows = CsvRows::new(data, source, Columns::Named(&model.meta.features))?;
    let mut sink = ScoresFile::create(out, model.meta.threshold.value)?;
    let mut scorer = RowScorer::new(model);
    let mut values = Vec::with_capacity(ROWS_PER_PIECE * model.meta.features.len());
    loop {
        values.clear();
        if rows.read(ROWS_PER_PIECE, &mut values)? == 0 {
            break;
        }
        scorer.push(&values, &mut |s| sink.row(s));
    }
    scorer.finish(source, &mut |s| sink.row(s))?;
    sink.close()
}

/// [`score_full`] with a model set: each row by its group's model (the full reader, which reads
/// the group column too), a piece at a time; also returns each group's totals.
fn score_set(set: &ModelSet, data: &mut dyn BufRead, out: &Path, source: &str) -> Result<Scored> {
    let manifest = &set.manifest;
    let column = manifest.group_by.as_str();
    let mut rows = CsvRows::grouped(data, source, Columns::Named(&manifest.features), column)?;
    let mut sink = ScoresFile::create(out, f64::NAN)?;
    let mut scorer = SetRowScorer::new(set);
    let mut values = Vec::with_capacity(ROWS_PER_PIECE * manifest.features.len());
    let mut codes = Vec::with_capacity(ROWS_PER_PIECE);
    loop {
        values.clear();
        if rows.read(ROWS_PER_PIECE, &mut values)? == 0 {
            break;
        }
        rows.take_group_codes(&mut codes);
        let names = rows.groups().map_or(&[][..], |g| &g.names[..]);
        scorer.push(&values, &codes, names, column, source, &mut |s, t| sink.row_of(s, t))?;
    }
    let groups = scorer.finish(column, source, &mut |s, t| sink.row_of(s, t))?;
    let (n, anomalies) = sink.close()?;
    Ok((n, anomalies, groups.into_iter().map(GroupSummary::from).collect()))
}

/// The fast path: the whole lines of each piece of the download through [`PlainRows`], read
/// where they arrived and into the scorer's own buffer (only a line split between two pieces is
/// copied to be joined). `None` as soon as a line needs the full reader (which starts again from
/// the beginning).
fn score_plain(model: &Model, data: &mut dyn BufRead, out: &Path, source: &str) -> Result<Option<(u64, u64)>> {
    let reading = || format!("reading {source}");
    // The start of a line whose end has not arrived yet.
    let mut carry: Vec<u8> = Vec::new();
    // The header: the first line.
    let rows = loop {
        let piece = data.fill_buf().with_context(reading)?;
        if piece.is_empty() || carry.len() > BLOCK_BYTES {
            return Ok(None);
        }
        if let Some(i) = memchr::memchr2(b'\n', b'\r', piece) {
            carry.extend_from_slice(&piece[..i]);
            data.consume(i);
            let Some(rows) = PlainRows::new(&carry, Columns::Named(&model.meta.features)) else { return Ok(None) };
            carry.clear();
            break rows;
        }
        let n = piece.len();
        carry.extend_from_slice(piece);
        data.consume(n);
    };
    let mut sink = ScoresFile::create(out, model.meta.threshold.value)?;
    let mut scorer = RowScorer::new(model);
    let mut emit = |s| sink.row(s);
    loop {
        let piece = data.fill_buf().with_context(reading)?;
        let n = piece.len();
        if n == 0 {
            // The last line, when the input does not end with a line break.
            if scorer.push_with(|values| rows.read(&carry, values), &mut emit).is_none() {
                return Ok(None);
            }
            break;
        }
        // Whole lines of this piece (a line split from the previous piece is joined first); the
        // rest waits for the next piece.
        let Some(last) = memchr::memrchr2(b'\n', b'\r', piece) else {
            carry.extend_from_slice(piece);
            data.consume(n);
            continue;
        };
        let read = scorer.push_with(
            |values| {
                let mut start = 0;
                if !carry.is_empty() {
                    start = memchr::memchr2(b'\n', b'\r', piece).map_or(n, |i| i + 1);
                    carry.extend_from_slice(&piece[..start]);
                    rows.read(&carry, values)?;
                    carry.clear();
                }
                rows.read(&piece[start..=last], values)
            },
            &mut emit,
        );
        if read.is_none() {
            return Ok(None);
        }
        carry.extend_from_slice(&piece[last + 1..]);
        data.consume(n);
    }
    scorer.finish(source, &mut emit)?;
    sink.close().map(Some)
}

/// The longest header the fast path looks for (longer ones go to the full reader).
const BLOCK_BYTES: usize = 1 << 20;

/// The scores CSV being written, with the count of anomalies.
struct ScoresFile {
    w: BufWriter<std::fs::File>,
    threshold: f64,
    rows: u64,
    anomalies: u64,
    error: Option<std::io::Error>,
}

impl ScoresFile {
    /// `threshold`: the model's (a model set gives each row its group's: [`ScoresFile::row_of`]).
    fn create(path: &Path, threshold: f64) -> Result<ScoresFile> {
        let mut w = BufWriter::with_capacity(1 << 16, std::fs::File::create(path).context("creating the scores file")?);
        w.write_all(SCORES_HEADER.as_bytes()).context("writing the scores file")?;
        Ok(ScoresFile { w, threshold, rows: 0, anomalies: 0, error: None })
    }

    fn row(&mut self, score: f32) {
        self.row_of(score, self.threshold);
    }

    /// A row whose own threshold is `threshold`.
    fn row_of(&mut self, score: f32, threshold: f64) {
        self.rows += 1;
        self.anomalies += u64::from(f64::from(score) > threshold);
        if self.error.is_none()
            && let Err(e) = write_score_row(&mut self.w, score, threshold)
        {
            self.error = Some(e);
        }
    }

    fn close(mut self) -> Result<(u64, u64)> {
        if let Some(e) = self.error.take() {
            return Err(e).context("writing the scores file");
        }
        self.w.flush().context("writing the scores file")?;
        Ok((self.rows, self.anomalies))
    }
}

/// Merges the shard manifests under the output prefix.
async fn summarise(output: &Location, url: &str) -> Result<Summary> {
    let dir = if output.key.is_empty() { MANIFESTS.to_string() } else { format!("{}/{MANIFESTS}", output.key) };
    let mut keys = output.store.list(&dir).await?;
    keys.sort();
    let mut manifests = Vec::new();
    for key in keys.iter().filter(|k| k.ends_with(".json")) {
        let bytes = output.store.get(key).await?;
        let m: ShardManifest =
            serde_json::from_slice(&bytes).with_context(|| format!("reading the shard manifest {key}"))?;
        manifests.push(m);
    }
    let Some(first) = manifests.first() else {
        bail!(
            "no shard manifests under {}/{MANIFESTS}: no batch-score run has finished there",
            url.trim_end_matches('/')
        );
    };
    let shards = first.shards;
    let mut by_index: HashMap<usize, &ShardManifest> = HashMap::new();
    for m in &manifests {
        if m.shards != shards {
            bail!(
                "shard manifests of different splits under {url} ({} and {} shards): remove the stale ones",
                shards,
                m.shards
            );
        }
        by_index.insert(m.shard, m);
    }
    let mut models: Vec<String> = manifests.iter().map(|m| m.model.clone()).collect();
    models.sort();
    models.dedup();
    let mut found: Vec<usize> = by_index.keys().copied().collect();
    found.sort_unstable();
    Ok(Summary {
        shards,
        shards_missing: (0..shards).filter(|i| !by_index.contains_key(i)).collect(),
        shards_found: found,
        models,
        files: by_index.values().map(|m| m.files).sum(),
        rows: by_index.values().map(|m| m.rows).sum(),
        anomalies: by_index.values().map(|m| m.anomalies).sum(),
        failures: by_index.values().flat_map(|m| m.failures.clone()).collect(),
    })
}

/// A progress bar on a terminal; otherwise a log line every [`LOG_EVERY`] and one per failure.
#[derive(Clone)]
struct Progress {
    bar: Option<indicatif::ProgressBar>,
    total: u64,
    done: Arc<AtomicU64>,
    rows: Arc<AtomicU64>,
    started: Instant,
    last_log: Arc<std::sync::Mutex<Instant>>,
}

impl Progress {
    fn start(total: u64) -> Progress {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = indicatif::ProgressBar::new(total);
            if let Ok(style) = indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} files {msg} ({elapsed})") {
                bar.set_style(style);
            }
            bar
        });
        let now = Instant::now();
        Progress {
            bar,
            total,
            done: Arc::default(),
            rows: Arc::default(),
            started: now,
            last_log: Arc::new(std::sync::Mutex::new(now)),
        }
    }

    fn file_done(&self, rows: u64, failed: bool, input: &str) {
        let done = self.done.fetch_add(1, Ordering::Relaxed) + 1;
        let rows = self.rows.fetch_add(rows, Ordering::Relaxed) + rows;
        let rate = rows as f64 / self.started.elapsed().as_secs_f64().max(1e-9);
        match &self.bar {
            Some(bar) => {
                if failed {
                    bar.println(format!("failed: {input}"));
                }
                bar.set_position(done);
                bar.set_message(format!("{rows} rows, {rate:.0} rows/s"));
            }
            None => {
                if failed {
                    eprintln!("batch-score: failed: {input}");
                }
                let mut last = self.last_log.lock().unwrap_or_else(|p| p.into_inner());
                if last.elapsed() >= LOG_EVERY || done == self.total {
                    *last = Instant::now();
                    eprintln!("batch-score: {done}/{} files, {rows} rows, {rate:.0} rows/s", self.total);
                }
            }
        }
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::{BufReader, Cursor};

    use super::score_plain;
    use crate::commands::{Kind, simulate, train_with};
    use crate::params::Params;

    /// The fast path reads a line split anywhere between two pieces of the download (a `\r\n`
    /// split between its two bytes included) as it reads the line whole, with LF or CRLF line
    /// ends, with or without a last line break.
    #[test]
    fn the_fast_path_scores_lines_split_anywhere_between_pieces_as_whole_lines() {
        let dir = tempfile::tempdir().unwrap();
        simulate(&dir.path().join("sim"), 1, 1, None).unwrap();
        let mut params = Params::default();
        params.train.epochs = 1;
        let model_dir = dir.path().join("model");
        train_with(
            &dir.path().join("sim/train.csv"),
            &model_dir,
            &params,
            &dir.path().join("plots"),
            Kind::Autoencoder,
        )
        .unwrap();
        let model = model_core::Model::load(&model_dir).unwrap();
        let test = std::fs::read_to_string(dir.path().join("sim/test.csv")).unwrap();
        let lf: String = test.lines().take(301).map(|l| format!("{l}\n")).collect();
        let out = dir.path().join("scores.csv");
        for text in [lf.clone(), lf.replace('\n', "\r\n"), lf.trim_end().to_string()] {
            let whole = score_plain(&model, &mut Cursor::new(text.as_bytes()), &out, "t.csv").unwrap();
            assert_eq!(whole, Some((300, whole.map_or(0, |w| w.1))));
            let expected = std::fs::read(&out).unwrap();
            for piece in [1, 2, 3, 7, 64, 1000] {
                let mut data = BufReader::with_capacity(piece, Cursor::new(text.as_bytes()));
                let got = score_plain(&model, &mut data, &out, "t.csv").unwrap();
                assert_eq!(got, whole, "pieces of {piece} bytes");
                assert!(std::fs::read(&out).unwrap() == expected, "pieces of {piece} bytes: other scores");
            }
        }
    }
}
