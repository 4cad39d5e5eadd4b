//! One model per group (`data.group_by`): the table is split by its group column (each group's
//! rows in file order), every group with enough rows gets a model trained with the same
//! parameters, and together they are written as a model set (`model_core::set`): `set.json`
//! beside `groups/<dir>/`, plus `fallback/` (every row) when `data.group_fallback` is on.
//!
//! The groups are trained on every core at once: one worker per core, each with a rayon pool of
//! its own, pulling whole groups from a queue (largest first). Nothing is shared between two
//! trainings, and a training's sums do not depend on its pool's size, so the set is the same
//! bit for bit whatever the number of cores.

use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use anyhow::{Context, Result, bail};
use model_core::data::Groups;
use model_core::set::{Member, SET_FILE, SET_FORMAT, SetManifest, SkippedGroup, group_dir, set_version};
use model_core::{Frame, Model};

use super::{DataInfo, choose_window};
use crate::params::Params;

/// Which groups a `train` run trains: all, some by name (`--group`), or one shard of them
/// (`--shard i/n`, for the pods of an Indexed Job).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Selection {
    #[default]
    All,
    Named(Vec<String>),
    Shard(crate::shard::Shard),
}

/// A training table read with each row's group.
pub struct Grouped {
    pub frame: Frame,
    pub groups: Groups,
    pub info: DataInfo,
}

/// One group's rows.
pub struct GroupData {
    pub value: String,
    pub frame: Frame,
}

/// Splits `frame` by `groups` (one code per row): each group keeps its rows' order; the groups
/// come sorted by value.
pub fn split(frame: &Frame, groups: &Groups) -> Vec<GroupData> {
    let d = frame.n_cols();
    let mut parts: Vec<Vec<f64>> = vec![Vec::new(); groups.names.len()];
    for (row, &code) in groups.codes.iter().enumerate() {
        parts[code as usize].extend_from_slice(&frame.values[row * d..(row + 1) * d]);
    }
    let mut out: Vec<GroupData> = groups
        .names
        .iter()
        .zip(parts)
        .map(|(value, values)| GroupData {
            value: value.clone(),
            frame: Frame { columns: frame.columns.clone(), n_rows: values.len() / d.max(1), values },
        })
        .collect();
    out.sort_by(|a, b| a.value.cmp(&b.value));
    out
}

/// `train` with `data.group_by`: trains the set of the table `frame` (read from `source` with
/// each row's group) and writes it to `out` (replaced whole), with each member's loss plot
/// under `plots/groups/`.
pub fn train_set(
    table: &Grouped,
    data: &Path,
    out: &Path,
    params: &Params,
    plots: &Path,
    selection: &Selection,
) -> Result<()> {
    let Grouped { frame, groups, info } = table;
    let info = info.clone();
    let source = &data.display().to_string();
    params.validate().map_err(anyhow::Error::msg).context("checking the parameters")?;
    let column = groups.column.clone();
    let started = std::time::Instant::now();
    let md5 = info.md5.clone();
    let window = choose_window(params, frame.n_cols()).length;
    let min_rows = params.data.min_group_rows.max(2 * window).max(1);
    let mut train: Vec<GroupData> = Vec::new();
    let mut skipped = Vec::new();
    let mut parts = split(frame, groups);
    match selection {
        Selection::All => {}
        Selection::Named(names) => {
            if let Some(unknown) = names.iter().find(|n| !parts.iter().any(|g| &g.value == *n)) {
                let found: Vec<&str> = parts.iter().map(|g| g.value.as_str()).collect();
                bail!("{source}: no group {column}={unknown:?} (--group); the groups are {found:?}");
            }
            parts.retain(|g| names.contains(&g.value));
        }
        Selection::Shard(shard) => parts.retain(|g| shard.owns(&g.value)),
    }
    for g in parts {
        if g.frame.n_rows < min_rows {
            eprintln!(
                "WARNING: group {column}={:?} has {} rows, fewer than {min_rows} (data.min_group_rows, or two windows): skipped",
                g.value, g.frame.n_rows
            );
            skipped.push(SkippedGroup {
                group: g.value,
                rows: g.frame.n_rows,
                reason: format!("{} rows, fewer than {min_rows}", g.frame.n_rows),
            });
        } else {
            train.push(g);
        }
    }
    // A shard may own no group (more pods than groups): it writes an empty part, which
    // `merge-set` accepts, rather than fail its pod.
    if train.is_empty() && !matches!(selection, Selection::Shard(_)) {
        bail!(
            "{source}: no group of {column:?} has {min_rows} rows or more: nothing to train (lower data.min_group_rows?)"
        );
    }
    // The fallback belongs to a run over all groups (or to the first shard).
    let shard_zero = matches!(selection, Selection::Shard(s) if s.index == 0);
    if params.data.group_fallback && (*selection == Selection::All || shard_zero) {
        train.push(GroupData { value: String::new(), frame: frame.clone() });
    }
    eprintln!(
        "training {} models (one per {column}{}) on {} rows x {} features from {}",
        train.len(),
        if params.data.group_fallback { ", and a fallback on every row" } else { "" },
        frame.n_rows,
        frame.n_cols(),
        source
    );
    let dir = atomic_file::AtomicDir::create(out).with_context(|| format!("creating {}", out.display()))?;
    // Each member is saved and its loss plot drawn by the worker that trained it: done one
    // after another, these took a fifth of the time of 100 small trainings.
    let done = train_all(&train, &info, params, source, &|g: &GroupData, model: &mut Model| {
        let rel = if g.value.is_empty() { "fallback".to_string() } else { format!("groups/{}", group_dir(&g.value)) };
        let path = dir.path().join(&rel);
        model.save(&path).with_context(|| format!("saving the model of {column}={:?}", g.value))?;
        let metadata =
            std::fs::read(path.join(model_core::artifact::METADATA_FILE)).context("reading a saved model")?;
        let t = &model.meta.training;
        let png = model_core::plot::training_loss_png(&t.train_loss, &t.val_loss)?;
        let plot_dir = if g.value.is_empty() { plots.to_path_buf() } else { plots.join(&rel) };
        atomic_file::write(&plot_dir.join("training_loss.png"), &png, atomic_file::Durability::Fast)
            .with_context(|| format!("writing {}", plot_dir.join("training_loss.png").display()))?;
        Ok(Member {
            group: g.value.clone(),
            dir: rel,
            rows: g.frame.n_rows,
            version: model.meta.version.clone(),
            threshold: model.meta.threshold.value,
            weights_md5: model.meta.weights_md5.clone(),
            metadata_md5: model_core::artifact::md5_hex(&metadata),
        })
    })?;
    let mut members = Vec::new();
    let mut fallback = None;
    for member in done {
        if member.group.is_empty() { fallback = Some(member) } else { members.push(member) }
    }
    if fallback.is_none()
        && let Some(largest) = members.iter().max_by_key(|m| m.rows)
    {
        // The pipeline's declared plot: the largest group's.
        let from = plots.join(&largest.dir).join("training_loss.png");
        let png = std::fs::read(&from).with_context(|| format!("reading {}", from.display()))?;
        atomic_file::write(&plots.join("training_loss.png"), &png, atomic_file::Durability::Fast)
            .with_context(|| format!("writing {}", plots.join("training_loss.png").display()))?;
    }
    let manifest = SetManifest {
        set_format: SET_FORMAT,
        name: params.model.name.clone(),
        version: set_version(&members),
        created_by: concat!("model_creation ", env!("CARGO_PKG_VERSION")).to_string(),
        group_by: column.clone(),
        features: frame.columns.clone(),
        data_md5: md5,
        groups: members,
        fallback,
        skipped,
        part: match selection {
            Selection::All => None,
            Selection::Named(names) => Some(format!("groups {}", names.join(", "))),
            Selection::Shard(shard) => Some(format!("shard {shard}")),
        },
    };
    let json = serde_json::to_vec_pretty(&manifest).context("encoding set.json")?;
    atomic_file::write(&dir.path().join(SET_FILE), &json, atomic_file::Durability::Durable)
        .with_context(|| format!("writing {}", out.join(SET_FILE).display()))?;
    dir.commit().with_context(|| format!("writing {}", out.display()))?;
    eprintln!(
        "trained {} group models{} in {:.1}s; {} skipped; model set {} written to {}",
        manifest.groups.len(),
        if manifest.fallback.is_some() { " and a fallback" } else { "" },
        started.elapsed().as_secs_f64(),
        manifest.skipped.len(),
        manifest.version,
        out.display()
    );
    for m in &manifest.groups {
        eprintln!("  {column}={:<12} {:>7} rows  threshold {:.5}  model {}", m.group, m.rows, m.threshold, m.version);
    }
    Ok(())
}

/// Trains every group's model on all cores (see the module documentation) and hands each to
/// `finish` on the same worker; the results come back in `groups`' order. The first failure
/// stops the rest and is returned naming its group.
fn train_all<T: Send>(
    groups: &[GroupData],
    info: &DataInfo,
    params: &Params,
    source: &str,
    finish: &(dyn Fn(&GroupData, &mut Model) -> Result<T> + Sync),
) -> Result<Vec<T>> {
    let threads = rayon::current_num_threads().max(1);
    let workers = threads.min(groups.len()).max(1);
    let per_worker = (threads / workers).max(1);
    let mut order: Vec<usize> = (0..groups.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(groups[i].frame.n_rows));
    let next = AtomicUsize::new(0);
    let failed = std::sync::atomic::AtomicBool::new(false);
    let results: Mutex<Vec<Option<Result<T>>>> = Mutex::new((0..groups.len()).map(|_| None).collect());
    let bar = indicatif::ProgressBar::new(groups.len() as u64);
    if let Ok(style) = indicatif::ProgressStyle::with_template("{bar:30} groups {pos}/{len} [{elapsed}]") {
        bar.set_style(style);
    }
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| {
                let pool = match rayon::ThreadPoolBuilder::new().num_threads(per_worker).build() {
                    Ok(pool) => pool,
                    Err(e) => {
                        failed.store(true, Ordering::SeqCst);
                        if let Some(slot) =
                            results.lock().unwrap_or_else(|p| p.into_inner()).iter_mut().find(|s| s.is_none())
                        {
                            *slot = Some(Err(anyhow::Error::new(e).context("starting a training thread pool")));
                        }
                        return;
                    }
                };
                loop {
                    let k = next.fetch_add(1, Ordering::SeqCst);
                    if k >= order.len() || failed.load(Ordering::SeqCst) {
                        break;
                    }
                    let g = &groups[order[k]];
                    let what =
                        if g.value.is_empty() { "the fallback".to_string() } else { format!("group {:?}", g.value) };
                    let result = pool
                        .install(|| {
                            super::train(
                                &g.frame,
                                info.clone(),
                                params,
                                &format!("{source} ({what})"),
                                &mut |_, _, _, _| {},
                            )
                        })
                        .with_context(|| format!("training {what}"))
                        .and_then(|mut model| finish(g, &mut model));
                    if result.is_err() {
                        failed.store(true, Ordering::SeqCst);
                    }
                    results.lock().unwrap_or_else(|p| p.into_inner())[order[k]] = Some(result);
                    bar.inc(1);
                }
            });
        }
    });
    bar.finish_and_clear();
    let results = results.into_inner().unwrap_or_else(|p| p.into_inner());
    // The failure itself, not the groups left untrained because of it.
    let mut models = Vec::with_capacity(results.len());
    let mut untrained = false;
    for result in results {
        match result {
            Some(Ok(done)) => models.push(done),
            Some(Err(e)) => return Err(e),
            None => untrained = true,
        }
    }
    if untrained {
        bail!("a group was not trained");
    }
    Ok(models)
}
