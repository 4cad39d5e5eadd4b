//! The DVC-compatible pipeline commands of `model-creation` (init, repro, status, dag, add,
//! import-url, update, checkout, remote, push, pull, fetch, gc, metrics, publish): argument
//! parsing and output only; the work is done by the `dvc_pipeline` and `object_storage` crates.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::Subcommand;
use dvc_pipeline::repro::{Outcome, ReproOptions};
use dvc_pipeline::{Project, Repo, config, imports, remote, status, transfer, workspace};

/// Pipeline and data commands, named and shaped like dvc's.
#[derive(Debug, Subcommand)]
pub enum PipelineCommand {
    /// Make the current directory a DVC repository (.dvc/, .dvcignore).
    Init,
    /// Run the stages whose command, dependencies, parameters or outputs changed.
    Repro {
        /// Stages to reproduce (with everything upstream); default: all.
        targets: Vec<String>,
        /// Run even the stages that did not change.
        #[arg(short, long)]
        force: bool,
        /// Only print what would run.
        #[arg(long)]
        dry: bool,
        /// Run the targets and the stages downstream of them.
        #[arg(long)]
        downstream: bool,
    },
    /// Show which stages and tracked data changed since the last run.
    Status {
        /// Print dvc's JSON form.
        #[arg(long)]
        json: bool,
    },
    /// Print the stages and their dependencies in execution order.
    Dag,
    /// Track files or directories: cache them and write PATH.dvc.
    Add {
        #[arg(required = true)]
        paths: Vec<PathBuf>,
    },
    /// Copy S3 data (an object, or every object under a prefix) into the workspace and track it
    /// with a frozen PATH.dvc that records the source's ETag, as `dvc import-url`.
    #[command(name = "import-url")]
    ImportUrl {
        /// s3://bucket/key, s3://bucket/prefix/ or remote://NAME/path (a remote's endpoint and
        /// keys); plain s3:// URLs take endpoint and keys from the AWS_* variables.
        url: String,
        /// Where the data goes (an existing directory receives it under the URL's last name).
        path: PathBuf,
        /// Replace an existing PATH and PATH.dvc.
        #[arg(short, long)]
        force: bool,
    },
    /// Fetch imports again whose source changed since `import-url` (or the last update).
    Update {
        /// The imports' .dvc files.
        #[arg(required = true)]
        targets: Vec<PathBuf>,
    },
    /// Restore tracked outputs from the cache.
    Checkout,
    /// Manage remotes in .dvc/config (or .dvc/config.local with --local).
    Remote {
        #[command(subcommand)]
        cmd: RemoteCommand,
    },
    /// Upload cached outputs the remote lacks.
    Push(TransferArgs),
    /// Download missing cached outputs and check them out.
    Pull {
        #[command(flatten)]
        transfer: TransferArgs,
        /// Outputs whose objects the remote lacks (a first run against an empty remote) are
        /// warned about instead of failing, as `dvc pull --allow-missing`; `repro` rebuilds them.
        #[arg(long)]
        allow_missing: bool,
    },
    /// Download missing cached outputs into the cache only.
    Fetch(TransferArgs),
    /// Delete cache objects the workspace no longer uses.
    Gc {
        /// Keep only what the current workspace uses (required).
        #[arg(short, long)]
        workspace: bool,
    },
    /// Show metrics declared in dvc.yaml.
    Metrics {
        #[command(subcommand)]
        cmd: MetricsCommand,
    },
    /// Upload a model directory to s3://bucket/models/<name>/<version>/ (metadata.json last).
    /// Superseded by `models publish` (the model registry: versions, cards, aliases, promotion);
    /// kept unchanged, and prefixes it published stay loadable through MODEL_URI.
    Publish {
        /// The model directory (must contain metadata.json).
        #[arg(long)]
        model: PathBuf,
        /// Destination prefix, e.g. s3://models/models/ae/1/ (AWS_* variables give endpoint and keys).
        #[arg(long)]
        to: String,
        /// Replace a model already published there.
        #[arg(long)]
        force: bool,
    },
}

/// Options shared by push, pull and fetch.
#[derive(Debug, clap::Args)]
pub struct TransferArgs {
    /// Remote name (default: core.remote).
    #[arg(short, long)]
    pub remote: Option<String>,
    /// Parallel transfers.
    #[arg(short, long, default_value_t = 16)]
    pub jobs: usize,
}

/// `remote` subcommands.
#[derive(Debug, Subcommand)]
pub enum RemoteCommand {
    /// Add a remote (s3://bucket/prefix or a directory).
    Add {
        name: String,
        url: String,
        /// Make it the default remote.
        #[arg(short, long)]
        default: bool,
        /// Replace an existing remote of that name.
        #[arg(short, long)]
        force: bool,
        /// Write to .dvc/config.local (not committed).
        #[arg(long)]
        local: bool,
    },
    /// Set or unset an option (endpointurl, region, access_key_id, secret_access_key, ...).
    Modify {
        name: String,
        option: String,
        value: Option<String>,
        #[arg(short, long)]
        unset: bool,
        #[arg(long)]
        local: bool,
    },
    /// Set the default remote.
    Default {
        name: String,
        #[arg(long)]
        local: bool,
    },
    /// List remotes.
    List,
}

/// `metrics` subcommands.
#[derive(Debug, Subcommand)]
pub enum MetricsCommand {
    /// Print the metrics files' values.
    Show {
        #[arg(long)]
        json: bool,
    },
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread().enable_all().build().context("starting the async runtime")
}

fn cwd() -> Result<PathBuf> {
    std::env::current_dir().context("reading the current directory")
}

/// Runs one pipeline command.
pub fn run(cmd: PipelineCommand) -> Result<()> {
    match cmd {
        PipelineCommand::Init => {
            let repo = Repo::init(&cwd()?)?;
            println!("Initialized DVC repository in {}.", repo.root.display());
        }
        PipelineCommand::Repro { targets, force, dry, downstream } => {
            let project = Project::open(&cwd()?)?;
            let opts = ReproOptions { targets, force, dry, downstream };
            let results = dvc_pipeline::repro::repro(&project, &opts, &mut |l| println!("{l}"))?;
            let ran = results.iter().filter(|(_, o)| *o == Outcome::Ran).count();
            if dry && ran > 0 {
                println!("(dry run: {ran} stage(s) would run; nothing was changed)");
            }
        }
        PipelineCommand::Status { json } => {
            let project = Project::open(&cwd()?)?;
            let items = status::status(&project)?;
            if json {
                let m: serde_json::Map<String, serde_json::Value> = items.into_iter().collect();
                println!("{}", serde_json::Value::Object(m));
            } else {
                print!("{}", status::render(&items));
            }
        }
        PipelineCommand::Dag => {
            let project = Project::open(&cwd()?)?;
            for (stage, ups) in project.dag()? {
                if ups.is_empty() {
                    println!("{stage}");
                } else {
                    println!("{stage} <- {}", ups.join(", "));
                }
            }
        }
        PipelineCommand::Add { paths } => {
            let project = Project::open(&cwd()?)?;
            for p in paths {
                let f = dvc_pipeline::add(&project, &p)?;
                println!("Added '{}': track '{}' in git.", p.display(), project.repo.rel(&f));
            }
        }
        PipelineCommand::ImportUrl { url, path, force } => {
            let project = Project::open(&cwd()?)?;
            println!("Importing '{url}' -> '{}'", path.display());
            let done = imports::import_url(&project, &url, &path, force)?;
            println!("To track the import in git: git add {}", project.repo.rel(&done.dvc_file));
        }
        PipelineCommand::Update { targets } => {
            let project = Project::open(&cwd()?)?;
            for target in targets {
                let done = imports::update(&project, &target)?;
                if done.changed {
                    println!("Updated '{}' from its source", project.repo.rel(&done.out));
                } else {
                    println!("'{}' didn't change, skipping", project.repo.rel(&done.dvc_file));
                }
            }
        }
        PipelineCommand::Checkout => {
            let project = Project::open(&cwd()?)?;
            for p in workspace::checkout(&project)? {
                println!("M       {p}");
            }
        }
        PipelineCommand::Remote { cmd } => remote_cmd(cmd)?,
        PipelineCommand::Push(a) => {
            let project = Project::open(&cwd()?)?;
            let store = open_remote(&project, a.remote.as_deref())?;
            let r = runtime()?.block_on(transfer::push(&project, &store, a.jobs))?;
            report_missing(&r, "local cache");
            println!("{} files pushed ({} already on the remote)", r.transferred, r.skipped);
            if r.stale_temp_files_removed > 0 {
                println!(
                    "removed {} temporary file(s) left on the remote by an interrupted push",
                    r.stale_temp_files_removed
                );
            }
        }
        PipelineCommand::Fetch(a) => {
            let project = Project::open(&cwd()?)?;
            let store = open_remote(&project, a.remote.as_deref())?;
            let r = runtime()?.block_on(transfer::fetch(&project, &store, a.jobs))?;
            report_missing(&r, "remote");
            println!("{} files fetched", r.transferred);
        }
        PipelineCommand::Pull { transfer: a, allow_missing } => {
            let project = Project::open(&cwd()?)?;
            let store = open_remote(&project, a.remote.as_deref())?;
            let r = runtime()?.block_on(transfer::fetch(&project, &store, a.jobs))?;
            report_missing(&r, "remote");
            let restored = match workspace::checkout(&project) {
                Err(dvc_pipeline::Error::OutputsNotRestored { paths }) if allow_missing => {
                    eprintln!(
                        "WARNING: {} output(s) not restored, their objects are missing from the remote: {}; \
                         `repro` rebuilds them",
                        paths.len(),
                        paths.join(", ")
                    );
                    Vec::new()
                }
                other => other?,
            };
            for p in &restored {
                println!("A       {p}");
            }
            println!("{} files fetched, {} outputs checked out", r.transferred, restored.len());
        }
        PipelineCommand::Gc { workspace: ws } => {
            if !ws {
                bail!("gc needs --workspace (keep only what the current workspace uses)");
            }
            let project = Project::open(&cwd()?)?;
            let n = workspace::gc_workspace(&project)?;
            println!("Removed {n} unused cache object(s).");
        }
        PipelineCommand::Metrics { cmd: MetricsCommand::Show { json } } => {
            let project = Project::open(&cwd()?)?;
            let rows = workspace::metrics(&project)?;
            if json {
                let mut m = serde_json::Map::new();
                for (f, k, v) in rows {
                    let e = m.entry(f).or_insert_with(|| serde_json::json!({}));
                    if let Some(o) = e.as_object_mut() {
                        o.insert(k, v);
                    }
                }
                println!("{}", serde_json::Value::Object(m));
            } else if rows.is_empty() {
                println!("No metrics found: declare them under 'metrics:' in dvc.yaml and run repro.");
            } else {
                print!("{}", workspace::render_metrics(&rows));
            }
        }
        PipelineCommand::Publish { model, to, force } => {
            if !to.starts_with("s3://") {
                bail!(
                    "--to must be an s3://bucket/models/<name>/<version>/ prefix, got '{}'",
                    object_storage::redact_url(&to)
                );
            }
            let options = model_creation::publish::destination(&to, &object_storage::AwsEnv::from_process())?;
            let store = object_storage::Store::s3(options)?;
            let n = runtime()?.block_on(dvc_pipeline::publish::publish(&model, &store, force, 8))?;
            println!("Published {n} files from {} to {to}", model.display());
        }
    }
    Ok(())
}

fn open_remote(project: &Project, name: Option<&str>) -> Result<object_storage::Store> {
    let cfg = config::Config::load(&project.repo)?;
    let rc = cfg.remote(name)?;
    Ok(remote::open(&project.repo, &rc, &object_storage::AwsEnv::from_process())?)
}

fn report_missing(r: &transfer::Report, place: &str) {
    if !r.missing.is_empty() {
        eprintln!("WARNING: {} object(s) missing from the {place}: {}", r.missing.len(), r.missing.join(", "));
    }
}

fn remote_cmd(cmd: RemoteCommand) -> Result<()> {
    let cwd = cwd()?;
    let repo = Repo::find(&cwd)?;
    match cmd {
        RemoteCommand::Add { name, url, default, force, local } => {
            config::remote_add(&repo, &cwd, &name, &url, default, force, local)?;
        }
        RemoteCommand::Modify { name, option, value, unset, local } => {
            config::remote_modify(&repo, &name, &option, value.as_deref(), unset, local)?;
        }
        RemoteCommand::Default { name, local } => config::remote_default(&repo, &name, local)?,
        RemoteCommand::List => {
            for (n, u) in config::remote_list(&repo)? {
                println!("{n}\t{u}");
            }
        }
    }
    Ok(())
}
