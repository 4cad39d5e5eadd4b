//! `models promote`: scores the candidate and the current champion on the same data, prints
//! both side by side with the gate's decision, and moves the alias only when the gate allows it
//! (and not with `--dry-run`).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use model_core::Artifact;
use model_registry::{ModelRef, Registry, VersionCard};
use serde_json::json;

use crate::commands::read_labels;
use crate::gate::{Decision, GateOptions, Measured, decide, measure};

/// What `promote` was asked to do.
#[derive(Debug, Clone)]
pub struct PromoteRequest {
    pub candidate: ModelRef,
    pub alias: String,
    pub data: PathBuf,
    pub labels: Option<PathBuf>,
    pub gate: GateOptions,
    pub allow_schema_change: bool,
    pub dry_run: bool,
    pub json: bool,
    pub set_by: String,
}

/// Runs the gate; `Ok(true)` when the candidate was promoted (or would be, with `--dry-run`),
/// `Ok(false)` when the gate refused it.
pub async fn promote(registry: &Registry, req: &PromoteRequest) -> Result<bool> {
    let name = req.candidate.name().to_string();
    let cand_card = registry.resolve(&req.candidate).await?;
    let champ_card = match registry.get_alias(&name, &req.alias).await? {
        Some(record) => Some(
            registry
                .resolve(&ModelRef::Alias { name: name.clone(), alias: req.alias.clone() })
                .await
                .with_context(|| format!("reading the current {} (version {})", req.alias, record.version))?,
        ),
        None => None,
    };
    if let Some(champ) = &champ_card
        && champ.version == cand_card.version
    {
        report_same(req, &cand_card);
        return Ok(true);
    }
    if let Some(champ) = &champ_card
        && champ.features != cand_card.features
        && !req.allow_schema_change
    {
        bail!(
            "the candidate {name}:{} has features {:?} but the {} {name}:{} has {:?}; \
             they must match (pass --allow-schema-change to compare them anyway)",
            cand_card.version,
            cand_card.features,
            req.alias,
            champ.version,
            champ.features
        );
    }
    let cand_model = load(registry, &cand_card).await?;
    let champ_model = match &champ_card {
        Some(c) => Some(load(registry, c).await?),
        None => None,
    };
    let data = req.data.clone();
    let labels_path = req.labels.clone();
    let (cand_fig, champ_fig) = tokio::task::spawn_blocking(move || -> Result<(Measured, Option<Measured>)> {
        let labels = match &labels_path {
            Some(p) => Some(read_labels(p, data_rows(&data, &cand_model)?)?),
            None => None,
        };
        let cand = measure(&cand_model, &data, labels.as_deref())?;
        let champ = champ_model.map(|m| measure(&m, &data, labels.as_deref())).transpose()?;
        Ok((cand, champ))
    })
    .await
    .context("scoring the models")??;
    let decision = decide(&cand_fig, champ_fig.as_ref(), &req.gate);
    let moved = decision.promote && !req.dry_run;
    if moved {
        registry.set_alias(&name, &req.alias, &cand_card.version, &req.set_by).await?;
    }
    let champ = champ_card.as_ref().zip(champ_fig.as_ref());
    if req.json {
        println!("{}", json_report(req, &cand_card, &cand_fig, champ, &decision, moved));
    } else {
        print_report(req, &cand_card, &cand_fig, champ, &decision, moved);
    }
    Ok(decision.promote)
}

/// The version's model or model set.
async fn load(registry: &Registry, card: &VersionCard) -> Result<Artifact> {
    let files = registry.fetch_version(&card.name, &card.version).await?;
    let place = PathBuf::from(format!("{}/{}:{}", registry.describe(), card.name, card.version));
    Ok(files.load(&place)?)
}

/// Rows of the data file as the model reads them (the labels file needs one per row).
fn data_rows(data: &Path, artifact: &Artifact) -> Result<usize> {
    let frame = model_core::data::read_csv_file(data, model_core::Columns::Named(&artifact.meta().features))?;
    Ok(frame.n_rows)
}

fn report_same(req: &PromoteRequest, card: &VersionCard) {
    if req.json {
        println!(
            "{}",
            json!({"candidate": {"version": card.version}, "alias": req.alias, "promoted": true, "changed": false,
                   "decision": format!("{}:{} is already the {}", card.name, card.version, req.alias)})
        );
    } else {
        println!("{}:{} is already the {}; nothing to do.", card.name, card.version, req.alias);
    }
}

fn fmt_opt(v: Option<f64>) -> String {
    v.map_or_else(|| "-".to_string(), |v| format!("{v:.4}"))
}

fn print_report(
    req: &PromoteRequest,
    cand: &VersionCard,
    cand_fig: &Measured,
    champ: Option<(&VersionCard, &Measured)>,
    decision: &Decision,
    moved: bool,
) {
    println!(
        "Gate on {} ({} rows{}):",
        req.data.display(),
        cand_fig.overall.rows,
        if req.labels.is_some() { ", labelled" } else { ", no labels" }
    );
    println!("{:<12} {:<32} {:>9} {:>9} {:>9}", "", "version", "ROC-AUC", "PR-AUC", "flagged");
    let row = |who: &str, card: &VersionCard, m: &Measured| {
        let f = &m.overall;
        println!(
            "{:<12} {:<32} {:>9} {:>9} {:>9.4}",
            who,
            card.version,
            fmt_opt(f.roc_auc),
            fmt_opt(f.pr_auc),
            f.flagged_rate
        );
    };
    row("candidate", cand, cand_fig);
    match champ {
        Some((card, f)) => row(&req.alias, card, f),
        None => println!("{:<12} (none: no {} yet)", req.alias, req.alias),
    }
    for r in &decision.reasons {
        println!("  {r}");
    }
    let verdict = match (decision.promote, moved) {
        (true, true) => format!("PROMOTED: {}@{} -> {}", cand.name, req.alias, cand.version),
        (true, false) => {
            format!("would promote {}:{} to {} (dry run: nothing moved)", cand.name, cand.version, req.alias)
        }
        (false, _) => {
            format!("REFUSED: {}:{} is worse than the {}; {} unchanged", cand.name, cand.version, req.alias, req.alias)
        }
    };
    println!("{verdict}");
}

fn json_report(
    req: &PromoteRequest,
    cand: &VersionCard,
    cand_fig: &Measured,
    champ: Option<(&VersionCard, &Measured)>,
    decision: &Decision,
    moved: bool,
) -> serde_json::Value {
    json!({
        "alias": req.alias,
        "data": req.data.display().to_string(),
        "labels": req.labels.as_ref().map(|p| p.display().to_string()),
        "candidate": {"version": cand.version, "figures": cand_fig},
        "champion": champ.map(|(c, f)| json!({"version": c.version, "figures": f})),
        "promoted": decision.promote,
        "changed": moved,
        "dry_run": req.dry_run,
        "reasons": decision.reasons,
    })
}
