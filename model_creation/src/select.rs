//! `select`: the last stage of a parameter search. Reads every run's `metrics.json` under a
//! runs directory, picks the best by one metric, and writes the winner's model, parameters and
//! metrics plus a record of the choice as one directory (a stage output, so the choice is cached
//! and reproducible like the runs themselves).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use atomic_file::{AtomicDir, Durability};

/// `model-creation select`.
#[derive(Debug, clap::Args)]
pub struct SelectArgs {
    /// Directory with one subdirectory per run, each holding `metrics.json` (from `evaluate`),
    /// `params.yaml` (from `train --save-params`) and `model/`. Every subdirectory counts, so
    /// delete the directories of runs no longer in the search.
    #[arg(long)]
    pub runs: PathBuf,
    /// The metric to compare: a key of metrics.json (`pr_auc`; dotted for nested keys).
    #[arg(long)]
    pub metric: String,
    /// Where the winner goes: model/, params.yaml, metrics.json and selection.json (every run's
    /// value and the winner). Replaced as a whole.
    #[arg(long, default_value = "best")]
    pub out: PathBuf,
    /// The smallest value wins (for a loss); by default the largest does. Ties go to the run
    /// whose directory name sorts first (byte order), so the choice never depends on the file
    /// system's listing order.
    #[arg(long)]
    pub lower_is_better: bool,
}

/// One run's value of the metric.
#[derive(Debug, Clone, PartialEq)]
pub struct RunValue {
    pub run: String,
    pub value: f64,
}

/// Reads the metric of every run under `runs`, sorted by run name.
pub fn read_runs(runs: &Path, metric: &str) -> Result<Vec<RunValue>> {
    let mut names = Vec::new();
    for e in std::fs::read_dir(runs).with_context(|| format!("reading the runs directory {}", runs.display()))? {
        let e = e.with_context(|| format!("reading the runs directory {}", runs.display()))?;
        let name = e.file_name().to_string_lossy().into_owned();
        // Hidden entries are no runs (a write in progress, an editor's file).
        if e.path().is_dir() && !name.starts_with('.') {
            names.push(name);
        }
    }
    names.sort();
    if names.is_empty() {
        bail!("{}: no runs (expected one subdirectory per run, each with metrics.json)", runs.display());
    }
    names
        .into_iter()
        .map(|run| {
            let file = runs.join(&run).join("metrics.json");
            let text = std::fs::read_to_string(&file).with_context(|| format!("{}: cannot read", file.display()))?;
            let json: serde_json::Value = serde_json::from_str(&text)
                .with_context(|| format!("{}: not JSON (expected the metrics `evaluate` writes)", file.display()))?;
            let value = metric_value(&json, metric).with_context(|| file.display().to_string())?;
            Ok(RunValue { run, value })
        })
        .collect()
}

fn metric_value(json: &serde_json::Value, metric: &str) -> Result<f64> {
    let mut cur = json;
    for part in metric.split('.') {
        cur = match cur.get(part) {
            Some(v) => v,
            None => {
                let known: Vec<&str> =
                    cur.as_object().map(|o| o.keys().map(String::as_str).collect()).unwrap_or_default();
                bail!(
                    "no metric {metric:?}; it has {}",
                    if known.is_empty() { "no keys".into() } else { known.join(", ") }
                );
            }
        };
    }
    cur.as_f64().with_context(|| format!("metric {metric:?} is {cur}, expected a number"))
}

/// The winner: the largest value (smallest with `lower_is_better`); among equal values the
/// first run in `runs`' order (by name).
pub fn pick(runs: &[RunValue], lower_is_better: bool) -> Option<&RunValue> {
    let mut best: Option<&RunValue> = None;
    for r in runs {
        let better = match best {
            None => true,
            Some(b) if lower_is_better => r.value < b.value,
            Some(b) => r.value > b.value,
        };
        if better {
            best = Some(r);
        }
    }
    best
}

/// Runs `select`: prints every run's value and writes the winner to `--out`.
pub fn run(args: &SelectArgs) -> Result<()> {
    let runs = read_runs(&args.runs, &args.metric)?;
    let Some(best) = pick(&runs, args.lower_is_better) else {
        bail!("{}: no runs", args.runs.display());
    };
    let from = args.runs.join(&best.run);
    let params = from.join("params.yaml");
    if !params.is_file() {
        bail!("{}: missing (expected the parameters `train --save-params` writes)", params.display());
    }
    let dir = AtomicDir::create(&args.out).with_context(|| format!("creating {}", args.out.display()))?;
    copy_dir(&from.join("model"), &dir.path().join("model"))?;
    for f in ["params.yaml", "metrics.json"] {
        atomic_file::copy(&from.join(f), &dir.path().join(f), Durability::Durable)
            .with_context(|| format!("copying {} to {}", from.join(f).display(), args.out.display()))?;
    }
    let values: serde_json::Map<String, serde_json::Value> =
        runs.iter().map(|r| (r.run.clone(), serde_json::Value::from(r.value))).collect();
    let goal = if args.lower_is_better { "min" } else { "max" };
    let selection = serde_json::json!({
        "metric": args.metric,
        "goal": goal,
        "tie_break": "first run name in byte order",
        "best": best.run,
        "value": best.value,
        "runs": values,
    });
    let mut json = serde_json::to_vec_pretty(&selection)?;
    json.push(b'\n');
    atomic_file::write(&dir.path().join("selection.json"), &json, Durability::Durable)
        .with_context(|| format!("writing selection.json into {}", args.out.display()))?;
    dir.commit().with_context(|| format!("replacing {}", args.out.display()))?;
    let width = runs.iter().map(|r| r.run.len()).max().unwrap_or(0);
    for r in &runs {
        let mark = if r.run == best.run { "  <- best" } else { "" };
        println!("{:width$}  {:.6}{mark}", r.run, r.value);
    }
    println!(
        "best {} = {:.6}: {}; wrote model/, params.yaml, metrics.json and selection.json to {}",
        args.metric,
        best.value,
        best.run,
        args.out.display()
    );
    Ok(())
}

fn copy_dir(from: &Path, to: &Path) -> Result<()> {
    std::fs::create_dir_all(to).with_context(|| format!("creating {}", to.display()))?;
    let entries =
        std::fs::read_dir(from).with_context(|| format!("{}: cannot read the run's model", from.display()))?;
    for e in entries {
        let e = e.with_context(|| format!("reading {}", from.display()))?;
        let (src, dest) = (e.path(), to.join(e.file_name()));
        if e.file_type().with_context(|| format!("reading {}", src.display()))?.is_dir() {
            copy_dir(&src, &dest)?;
        } else {
            atomic_file::copy(&src, &dest, Durability::Durable)
                .with_context(|| format!("copying {} to {}", src.display(), dest.display()))?;
        }
    }
    Ok(())
}
