//! `model-creation models ...`: the model registry commands (publish, list, show, alias,
//! promote, rollback, pull, gc): arguments, the registry location (`--registry` or
//! `MODEL_REGISTRY`), and output, human tables or `--json`. The work is model_registry's;
//! the promotion gate is `promote` and `gate`.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use model_registry::{AliasRecord, DEFAULT_ALIAS, ModelRef, PublishInfo, Registry, VersionCard};
use serde_json::json;

use crate::gate::GateOptions;
use crate::identity::actor;
use crate::promote::{PromoteRequest, promote};

/// `models` and its options.
#[derive(Debug, Args)]
pub struct ModelsArgs {
    /// Registry root: s3://bucket/prefix (AWS_* variables give endpoint and keys) or a directory.
    #[arg(long, env = "MODEL_REGISTRY", global = true)]
    pub registry: Option<String>,
    /// Machine-readable JSON output.
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    pub cmd: ModelsCommand,
}

/// The registry commands.
#[derive(Debug, Subcommand)]
pub enum ModelsCommand {
    /// Publish a model directory as a new immutable version (printed as the last word).
    Publish {
        /// The model directory (metadata.json + weights.safetensors).
        #[arg(long)]
        model: PathBuf,
        /// Model name (default: the name in the model's metadata.json).
        #[arg(long)]
        name: Option<String>,
        /// Evaluation metrics (JSON, e.g. the evaluate stage's metrics.json) to record on the card.
        #[arg(long)]
        metrics: Option<PathBuf>,
        /// What the metrics were measured on (default: the metrics file's path).
        #[arg(long, requires = "metrics")]
        metrics_data: Option<String>,
    },
    /// List model names, or the versions of one model with their aliases.
    List { name: Option<String> },
    /// Show the card of NAME (its champion), NAME@ALIAS or NAME:VERSION.
    Show { model: String },
    /// Set, get or delete an alias.
    Alias {
        #[command(subcommand)]
        cmd: AliasCommand,
    },
    /// Gate NAME:VERSION against the current champion on the same data and move the alias if it is not worse.
    /// Exit status: 0 promoted, 1 refused, 2 error.
    Promote {
        /// The candidate, NAME:VERSION.
        candidate: String,
        /// The alias to move.
        #[arg(long = "to", default_value = DEFAULT_ALIAS)]
        alias: String,
        /// CSV both models score (normal data when there are no labels).
        #[arg(long)]
        data: PathBuf,
        /// CSV with a `label` column (0/1), one row per data row: compare ROC-AUC and PR-AUC.
        #[arg(long)]
        labels: Option<PathBuf>,
        /// How much worse than the champion the candidate may be.
        #[arg(long, default_value_t = 0.01)]
        tolerance: f64,
        /// Absolute ROC-AUC floor (with labels).
        #[arg(long)]
        min_roc_auc: Option<f64>,
        /// Absolute PR-AUC floor (with labels).
        #[arg(long)]
        min_pr_auc: Option<f64>,
        /// Compare even when the feature lists differ.
        #[arg(long)]
        allow_schema_change: bool,
        /// Decide, print, and move nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Move an alias back to the version it named before.
    Rollback {
        name: String,
        #[arg(long, default_value = DEFAULT_ALIAS)]
        alias: String,
    },
    /// Download NAME@ALIAS or NAME:VERSION into a model directory (checksum verified).
    Pull {
        model: String,
        #[arg(long)]
        out: PathBuf,
    },
    /// Delete versions beyond the newest N that no alias names.
    Gc {
        name: String,
        #[arg(long)]
        keep: usize,
        /// Only list what would be deleted.
        #[arg(long)]
        dry_run: bool,
    },
}

/// `models alias` subcommands.
#[derive(Debug, Subcommand)]
pub enum AliasCommand {
    /// Point NAME@ALIAS at VERSION.
    Set { alias: String, version: String },
    /// Show NAME@ALIAS with its history.
    Get { alias: String },
    /// Remove NAME@ALIAS.
    Delete { alias: String },
}

/// How a `models` command ended, for its exit status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Done (a promotion made or allowed).
    Done,
    /// The promotion gate refused the candidate.
    Refused,
}

/// Runs one `models` command.
pub fn run(args: ModelsArgs) -> Result<Outcome> {
    let Some(root) = args.registry.as_deref().filter(|r| !r.trim().is_empty()) else {
        bail!("no registry given: pass --registry s3://bucket/prefix (or a directory) or set MODEL_REGISTRY");
    };
    let registry = Registry::open(root)?;
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().context("starting the async runtime")?;
    rt.block_on(dispatch(&registry, args.cmd, args.json))
}

async fn dispatch(registry: &Registry, cmd: ModelsCommand, json: bool) -> Result<Outcome> {
    match cmd {
        ModelsCommand::Publish { model, name, metrics, metrics_data } => {
            let card = publish(registry, &model, name, metrics, metrics_data).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&card)?);
            } else {
                println!("Published {} to {} as version {}", card.name, registry.describe(), card.version);
            }
        }
        ModelsCommand::List { name: None } => list_names(registry, json).await?,
        ModelsCommand::List { name: Some(name) } => list_versions(registry, &name, json).await?,
        ModelsCommand::Show { model } => {
            let r: ModelRef = model.parse()?;
            let card = registry.resolve(&r).await?;
            let aliases = aliases_of(registry, &card).await?;
            if json {
                println!("{}", json!({"card": card, "aliases": aliases}));
            } else {
                print_card(&card, &aliases);
            }
        }
        ModelsCommand::Alias { cmd } => alias_cmd(registry, cmd, json).await?,
        ModelsCommand::Promote {
            candidate,
            alias,
            data,
            labels,
            tolerance,
            min_roc_auc,
            min_pr_auc,
            allow_schema_change,
            dry_run,
        } => {
            model_registry::check_name("alias", &alias)?;
            let req = PromoteRequest {
                candidate: candidate.parse()?,
                alias,
                data,
                labels,
                gate: GateOptions { tolerance, min_roc_auc, min_pr_auc },
                allow_schema_change,
                dry_run,
                json,
                set_by: actor(),
            };
            if !promote(registry, &req).await? {
                return Ok(Outcome::Refused);
            }
        }
        ModelsCommand::Rollback { name, alias } => {
            let before = registry.get_alias(&name, &alias).await?.map(|r| r.version);
            let record = registry.rollback(&name, &alias, &actor()).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&record)?);
            } else {
                println!(
                    "Rolled {name}@{alias} back from {} to {}",
                    before.as_deref().unwrap_or("(none)"),
                    record.version
                );
            }
        }
        ModelsCommand::Pull { model, out } => {
            let r: ModelRef = model.parse()?;
            let card = registry.resolve(&r).await?;
            registry.pull(&card.name, &card.version, &out).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&card)?);
            } else {
                println!("Pulled {}:{} into {}", card.name, card.version, out.display());
            }
        }
        ModelsCommand::Gc { name, keep, dry_run } => {
            let gone = registry.gc(&name, keep, dry_run).await?;
            if json {
                println!("{}", json!({"dry_run": dry_run, "versions": gone}));
            } else {
                let verb = if dry_run { "Would delete" } else { "Deleted" };
                println!("{verb} {} version(s) of {name}", gone.len());
                for v in gone {
                    println!("  {v}");
                }
            }
        }
    }
    Ok(Outcome::Done)
}

async fn publish(
    registry: &Registry,
    model: &std::path::Path,
    name: Option<String>,
    metrics: Option<PathBuf>,
    metrics_data: Option<String>,
) -> Result<VersionCard> {
    let name = match name {
        Some(n) => n,
        None => {
            let meta = model.join(model_core::artifact::METADATA_FILE);
            let bytes = std::fs::read(&meta).with_context(|| format!("reading {}", meta.display()))?;
            let v: serde_json::Value =
                serde_json::from_slice(&bytes).with_context(|| format!("parsing {}", meta.display()))?;
            match v.get("name").and_then(|n| n.as_str()) {
                Some(n) if !n.is_empty() => n.to_string(),
                _ => bail!("{} has no \"name\"; pass --name", meta.display()),
            }
        }
    };
    let metrics_value = match &metrics {
        Some(p) => {
            let bytes = std::fs::read(p).with_context(|| format!("reading the metrics file {}", p.display()))?;
            Some(
                serde_json::from_slice::<serde_json::Value>(&bytes)
                    .with_context(|| format!("{}: expected a JSON metrics file", p.display()))?,
            )
        }
        None => None,
    };
    let dvc_lock = std::path::Path::new("dvc.lock");
    let dvc_lock_md5 = match std::fs::read(dvc_lock) {
        Ok(bytes) => Some(model_core::artifact::md5_hex(&bytes)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(e).context("reading dvc.lock"),
    };
    let info = PublishInfo {
        published_by: actor(),
        git_commit: std::env::var("GIT_COMMIT").ok().filter(|c| !c.trim().is_empty()),
        metrics_data: metrics_data.or_else(|| metrics.as_ref().map(|p| p.display().to_string())),
        metrics: metrics_value,
        dvc_lock_md5,
    };
    Ok(registry.publish(&name, model, info).await?)
}

async fn list_names(registry: &Registry, json: bool) -> Result<()> {
    let mut rows = Vec::new();
    for name in registry.names().await? {
        let versions = registry.versions(&name).await?;
        let aliases = registry.aliases(&name).await?;
        rows.push((name, versions, aliases));
    }
    if json {
        let out: Vec<_> = rows
            .iter()
            .map(|(n, v, a)| {
                json!({"name": n, "versions": v.len(), "latest": v.last().map(|c| &c.version),
                       "aliases": a.iter().map(|r| (r.alias.clone(), json!(r.version))).collect::<serde_json::Map<_, _>>()})
            })
            .collect();
        println!("{}", serde_json::Value::Array(out));
        return Ok(());
    }
    if rows.is_empty() {
        println!("No models in {}", registry.describe());
        return Ok(());
    }
    println!("{:<28} {:>8}  {:<32} ALIASES", "NAME", "VERSIONS", "LATEST");
    for (name, versions, aliases) in rows {
        let latest = versions.last().map_or("-", |c| c.version.as_str());
        let aliases: Vec<String> = aliases.iter().map(|a| format!("{}={}", a.alias, a.version)).collect();
        println!("{name:<28} {:>8}  {latest:<32} {}", versions.len(), aliases.join(" "));
    }
    Ok(())
}

async fn list_versions(registry: &Registry, name: &str, json: bool) -> Result<()> {
    let versions = registry.versions(name).await?;
    let aliases = registry.aliases(name).await?;
    let named =
        |v: &str| -> Vec<String> { aliases.iter().filter(|a| a.version == v).map(|a| a.alias.clone()).collect() };
    if json {
        let out: Vec<_> = versions.iter().map(|c| json!({"card": c, "aliases": named(&c.version)})).collect();
        println!("{}", serde_json::Value::Array(out));
        return Ok(());
    }
    if versions.is_empty() {
        println!("No versions of {name} in {}", registry.describe());
        return Ok(());
    }
    println!("{:<32} {:<25} {:<24} ALIASES", "VERSION", "CREATED", "PUBLISHED BY");
    for c in &versions {
        println!("{:<32} {:<25} {:<24} {}", c.version, c.created, c.published_by, named(&c.version).join(","));
    }
    Ok(())
}

async fn aliases_of(registry: &Registry, card: &VersionCard) -> Result<Vec<String>> {
    let aliases = registry.aliases(&card.name).await?;
    Ok(aliases.into_iter().filter(|a| a.version == card.version).map(|a| a.alias).collect())
}

fn print_card(c: &VersionCard, aliases: &[String]) {
    let opt = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
    println!("name:          {}", c.name);
    println!("version:       {}", c.version);
    println!("aliases:       {}", if aliases.is_empty() { "-".to_string() } else { aliases.join(", ") });
    println!("created:       {}", c.created);
    println!("published by:  {}", c.published_by);
    println!("weights md5:   {}", c.weights_md5);
    println!("files:         {}", c.files.join(", "));
    println!("features:      {}", c.features.join(", "));
    println!("data md5:      {}", c.data_md5);
    println!("dvc.lock md5:  {}", opt(&c.dvc_lock_md5));
    println!("git commit:    {}", opt(&c.git_commit));
    println!("params:        {}", c.params);
    match &c.metrics {
        Some(m) => println!("metrics:       {m} (on {})", opt(&c.metrics_data)),
        None => println!("metrics:       -"),
    }
}

/// `NAME@ALIAS` split into its parts.
fn alias_ref(s: &str) -> Result<(String, String)> {
    match s.parse::<ModelRef>()? {
        ModelRef::Alias { name, alias } => Ok((name, alias)),
        _ => bail!("expected NAME@ALIAS, got '{s}'"),
    }
}

fn print_alias(name: &str, r: &AliasRecord) {
    println!("{name}@{} -> {} (set {} by {})", r.alias, r.version, r.set_at, r.set_by);
    for h in &r.history {
        println!("  before: {} (set {} by {})", h.version, h.set_at, h.set_by);
    }
}

async fn alias_cmd(registry: &Registry, cmd: AliasCommand, json: bool) -> Result<()> {
    match cmd {
        AliasCommand::Set { alias, version } => {
            let (name, alias) = alias_ref(&alias)?;
            let r = registry.set_alias(&name, &alias, &version, &actor()).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&r)?);
            } else {
                print_alias(&name, &r);
            }
        }
        AliasCommand::Get { alias } => {
            let (name, alias) = alias_ref(&alias)?;
            let Some(r) = registry.get_alias(&name, &alias).await? else {
                bail!("alias {name}@{alias} is not set in {}", registry.describe());
            };
            if json {
                println!("{}", serde_json::to_string_pretty(&r)?);
            } else {
                print_alias(&name, &r);
            }
        }
        AliasCommand::Delete { alias } => {
            let (name, alias) = alias_ref(&alias)?;
            registry.delete_alias(&name, &alias).await?;
            if json {
                println!("{}", json!({"deleted": format!("{name}@{alias}")}));
            } else {
                println!("Deleted {name}@{alias}");
            }
        }
    }
    Ok(())
}
