//! `model-creation`: the training workspace's command line: the ML commands and the
//! DVC-compatible pipeline commands.

mod pipeline_cli;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use model_core::model_set::is_set_dir;
use model_creation::commands;
use model_creation::registry_cli::Outcome;
use model_creation::set_transfer;

#[derive(Parser)]
#[command(
    name = "model-creation",
    version,
    about = "Train, evaluate and score autoencoder anomaly detectors, in a DVC-compatible pipeline"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Write a synthetic multivariate sensor dataset with labelled anomalies
    /// (train.csv, test.csv, labels.csv, anomalies.csv).
    Simulate {
        /// Directory to write into.
        #[arg(long)]
        out: PathBuf,
        /// Random seed; the same seed gives the same files.
        #[arg(long, default_value_t = 7)]
        seed: u64,
        /// Machines: more than one writes a fleet, with a `machine` column (m01, m02, ...), each
        /// machine at its own operating point, rows interleaved by time.
        #[arg(long, default_value_t = 1)]
        machines: usize,
        /// The faulty machine of a fleet (1-based), the only one with anomalies; 0: none.
        /// Default: the last one.
        #[arg(long)]
        faulty: Option<usize>,
    },
    /// Train an autoencoder on a CSV and write the model directory and training_loss.png.
    Train {
        /// Training CSV (header + numeric feature columns; timestamp/label columns are skipped).
        #[arg(long)]
        data: PathBuf,
        /// Model directory to write (replaced atomically), or an `s3://bucket/prefix/` (or
        /// `remote://NAME/prefix/`) to upload it to: an Indexed Job's pod uploads its part of a
        /// model set for `merge-set` (the manifest last, so a part is seen only when whole).
        #[arg(long)]
        out: PathBuf,
        /// params.yaml with `data`, `model`, `train`, `score`, `forest` and `threshold` sections; defaults otherwise.
        #[arg(long)]
        params: Option<PathBuf>,
        /// Where training_loss.png goes.
        #[arg(long, default_value = "graph")]
        plots: PathBuf,
        /// The detector: the autoencoder, or an Isolation Forest (servable the same way).
        #[arg(long, value_enum, default_value = "autoencoder")]
        kind: commands::Kind,
        /// Override one parameter: `KEY=VALUE`, dotted key, YAML value (`data.window=4`,
        /// `model.hidden=[64,32,32,64]`). Repeatable; applied after --params.
        #[arg(long = "set", value_name = "KEY=VALUE")]
        set: Vec<String>,
        /// With data.group_by: train only this group (repeatable).
        #[arg(long = "group", value_name = "VALUE", conflicts_with = "shard")]
        groups: Vec<String>,
        /// With data.group_by: train only the groups of share `i/n` (0-based i; an Indexed
        /// Job's pod: `--shard $JOB_COMPLETION_INDEX/N`).
        #[arg(long)]
        shard: Option<model_creation::shard::Shard>,
        /// Also write the parameters used (defaults and overrides filled in) to this YAML file.
        #[arg(long)]
        save_params: Option<PathBuf>,
    },
    /// Score a CSV and write scores.csv, metrics.json and result.png.
    Evaluate {
        #[arg(long)]
        model: PathBuf,
        #[arg(long)]
        data: PathBuf,
        /// CSV with a `label` column (0/1), one row per data row; adds ROC-AUC, PR-AUC, F1...
        #[arg(long)]
        labels: Option<PathBuf>,
        #[arg(long)]
        out: PathBuf,
        /// A baseline fitted on the training rows and reported beside the model in
        /// metrics.json (`baseline`) and result.png: `iforest` (needs --train-data).
        #[arg(long, value_parser = ["iforest"], requires = "train_data")]
        baseline: Option<String>,
        /// The model's training CSV, for the baseline.
        #[arg(long, requires = "baseline")]
        train_data: Option<PathBuf>,
    },
    /// Join the parts of a model set trained apart (`train --shard i/n` or `--group`, one per
    /// pod of an Indexed Job) into one set, the same as one `train` run over every group.
    MergeSet {
        /// The merged set's directory (replaced whole).
        #[arg(long)]
        out: PathBuf,
        /// The parts: directories, `s3://` (or `remote://`) prefixes holding a part's set.json,
        /// or a prefix holding parts one level below (`s3://bucket/sets/run/` with `part-0/`…).
        #[arg(required = true)]
        parts: Vec<String>,
    },
    /// Score a CSV and write one `score,anomaly` row per input row.
    Score {
        #[arg(long)]
        model: PathBuf,
        #[arg(long)]
        data: PathBuf,
        #[arg(long)]
        out: PathBuf,
    },
    /// Detection quality on labelled data: train + evaluate with the defaults (or --params) and
    /// the Isolation Forest baseline on every folder under DIR holding train.csv, test.csv and
    /// labels.csv; prints per-series and mean ROC-AUC, PR-AUC and best F1.
    Benchmark {
        /// Directory searched (recursively) for series folders.
        #[arg(long)]
        data: PathBuf,
        /// params.yaml to train with instead of the defaults.
        #[arg(long)]
        params: Option<PathBuf>,
        /// The baseline trained beside the model on the same rows: iforest or none.
        #[arg(long, default_value = "iforest", value_parser = ["iforest", "none"])]
        baseline: String,
        /// Also write the report as JSON to this file.
        #[arg(long)]
        json: Option<PathBuf>,
    },
    /// Copy a new weekly batch of recordings into <prefix>/<ISO week>/ (one metadata JSON per
    /// file, a manifest last); files collected before are not copied again.
    Collect(model_creation::collect::CollectArgs),
    /// Score every CSV under an S3 prefix into <name>.scores.csv and <name>.summary.json, then a
    /// shard manifest (exit status 3 when a file failed); --summary merges the shards' manifests.
    BatchScore(model_creation::batch_score::BatchScoreArgs),
    /// Concatenate the latest complete collection batches into one training CSV.
    Assemble(model_creation::collect::AssembleArgs),
    /// The model registry: publish versions, list, show, aliases, the promotion gate, rollback,
    /// pull, gc (exit status 0 done/promoted, 1 promotion refused, 2 error).
    Models(model_creation::registry_cli::ModelsArgs),
    /// Pick the best run of a parameter search by one metric and write its model, parameters
    /// and metrics (plus every run's value) to one directory.
    Select(model_creation::select::SelectArgs),
    /// Experiments: `exp run -S KEY=VALUE` edits params.yaml and runs repro, like `dvc exp run`.
    Exp(model_creation::experiment::ExpArgs),
    #[command(flatten)]
    Pipeline(pipeline_cli::PipelineCommand),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Simulate { out, seed, machines, faulty } => commands::simulate(&out, seed, machines, faulty),
        Command::Train { data, out, params, plots, kind, set, save_params, groups, shard } => {
            use model_creation::train::groups::Selection;
            let selection = match (shard, groups.is_empty()) {
                (Some(s), _) => Selection::Shard(s),
                (None, false) => Selection::Named(groups),
                (None, true) => Selection::All,
            };
            let trained = set_transfer::TrainOut::new(&out).and_then(|target| {
                model_creation::experiment::train(
                    &data,
                    target.dir(),
                    params.as_deref(),
                    &plots,
                    kind,
                    &set,
                    save_params.as_deref(),
                    &selection,
                )?;
                target.finish()
            });
            trained.map(|uploaded| {
                if let Some((url, n)) = uploaded {
                    eprintln!("Uploaded {} to {url}", plural(n, "file", "files"));
                }
            })
        }
        Command::Evaluate { model, data, labels, out, baseline: _, train_data } => {
            if !is_set_dir(&model) {
                commands::evaluate(&model, &data, labels.as_deref(), &out, train_data.as_deref())
            } else if train_data.is_some() {
                Err(anyhow::anyhow!(
                    "--baseline compares one model with a baseline; {} is a model set",
                    model.display()
                ))
            } else {
                model_creation::set_commands::evaluate(&model, &data, labels.as_deref(), &out)
            }
        }
        Command::MergeSet { out, parts } => set_transfer::merge_parts(&parts).and_then(|(_downloads, parts)| {
            let merged = model_creation::merge_set::merge(&parts, &out)?;
            let m = &merged.manifest;
            println!(
                "Merged {} into model set {} ({} group models{}, {} skipped) at {}",
                plural(merged.parts, "part", "parts"),
                m.version,
                m.groups.len(),
                if m.fallback.is_some() { " and a fallback" } else { "" },
                m.skipped.len(),
                out.display()
            );
            Ok(())
        }),
        Command::Score { model, data, out } if is_set_dir(&model) => {
            model_creation::set_commands::score(&model, &data, &out)
        }
        Command::Score { model, data, out } => commands::score(&model, &data, &out),
        Command::Benchmark { data, params, baseline, json } => {
            model_creation::benchmark::command(&data, params.as_deref(), baseline == "iforest", json.as_deref())
        }
        Command::Collect(args) => collect(&args),
        Command::Assemble(args) => model_creation::collect::run_assemble(&args).map(|(weeks, files, rows)| {
            println!(
                "Assembled {rows} rows from {files} files of {} ({}) into {}",
                plural(weeks.len(), "batch", "batches"),
                weeks.join(", "),
                args.out.display()
            );
        }),
        Command::BatchScore(args) => return batch_score(&args),
        Command::Pipeline(cmd) => pipeline_cli::run(cmd),
        Command::Select(args) => model_creation::select::run(&args),
        Command::Exp(args) => model_creation::experiment::run(args),
        Command::Models(args) => return models(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            report(&e);
            ExitCode::FAILURE
        }
    }
}

fn collect(args: &model_creation::collect::CollectArgs) -> anyhow::Result<()> {
    let r = model_creation::collect::run_collect(args)?;
    for name in &r.collected {
        println!("collected {}/{name}", r.week);
    }
    for (source, at) in &r.already {
        println!("already collected: {source} (as {at})");
    }
    for s in &r.skipped {
        eprintln!("WARNING: skipped {}: {}", s.source, s.error);
    }
    let state = if r.manifest_written { "manifest written" } else { "nothing new, bucket unchanged" };
    println!(
        "batch {}: {} collected, {} already there, {} skipped; {state}",
        r.week,
        r.collected.len(),
        r.already.len(),
        r.skipped.len()
    );
    Ok(())
}

/// `batch-score`: 3 when a file failed (the others are scored), 1 on any other failure.
fn batch_score(args: &model_creation::batch_score::BatchScoreArgs) -> ExitCode {
    use model_creation::batch_score::{Ended, run};
    match run(args) {
        Ok(Ended::Scored(m)) => {
            println!(
                "shard {}/{}: {} files ({} already scored), {} rows, {} anomalies, {} failed, in {:.1}s",
                m.shard,
                m.shards,
                m.files,
                m.reused,
                m.rows,
                m.anomalies,
                m.failures.len(),
                m.seconds
            );
            for f in &m.failures {
                // Most errors name the file already.
                if f.error.contains(&f.input) {
                    eprintln!("failed: {}", f.error);
                } else {
                    eprintln!("failed: {}: {}", f.input, f.error);
                }
            }
            if m.failures.is_empty() { ExitCode::SUCCESS } else { ExitCode::from(3) }
        }
        Ok(Ended::Summarised(s)) => {
            match serde_json::to_string_pretty(&s) {
                Ok(text) => println!("{text}"),
                Err(e) => eprintln!("error: encoding the summary: {e}"),
            }
            if !s.shards_missing.is_empty() {
                eprintln!(
                    "error: shard(s) {:?} of {} have no manifest: they have not finished",
                    s.shards_missing, s.shards
                );
                return ExitCode::FAILURE;
            }
            if s.failures.is_empty() { ExitCode::SUCCESS } else { ExitCode::from(3) }
        }
        Err(e) => {
            report(&e);
            ExitCode::FAILURE
        }
    }
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// `models` tells a refused promotion (1) from a failure (2), for CI and the training Job.
fn models(args: model_creation::registry_cli::ModelsArgs) -> ExitCode {
    match model_creation::registry_cli::run(args) {
        Ok(Outcome::Done) => ExitCode::SUCCESS,
        Ok(Outcome::Refused) => ExitCode::from(1),
        Err(e) => {
            report(&e);
            ExitCode::from(2)
        }
    }
}

fn report(e: &anyhow::Error) {
    // `{:#}`: the message and each cause once (no error repeats its source in its text).
    // URL credentials hidden, whichever cause (an SDK's, a parser's) echoes a URL.
    eprintln!("error: {}", object_storage::redact_urls(&format!("{e:#}")));
}
