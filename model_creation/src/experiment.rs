//! One-off parameter changes, as DVC makes them: `train --set KEY=VALUE` (overrides for one
//! training, e.g. from a `matrix` stage, optionally saved beside the run) and
//! `exp run -S KEY=VALUE` (edits params.yaml in the workspace, keeping its comments and layout,
//! then runs `repro`, like `dvc exp run -S` without dvc's git bookkeeping).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use dvc_pipeline::Project;
use dvc_pipeline::repro::{Outcome, ReproOptions};

use crate::commands;
use crate::params::{Params, ParamsError, set_dotted, split_override};

/// `model-creation exp ...`.
#[derive(Debug, clap::Args)]
pub struct ExpArgs {
    #[command(subcommand)]
    pub cmd: ExpCommand,
}

#[derive(Debug, clap::Subcommand)]
pub enum ExpCommand {
    /// Change parameters in the workspace's params.yaml (comments and layout kept), then run
    /// `repro`: only the stages that use a changed value run again.
    Run {
        /// `KEY=VALUE` with a dotted key and a YAML value (`train.epochs=50`,
        /// `model.hidden=[64,32,32,64]`); `FILE:KEY=VALUE` edits another params file. The key
        /// must already exist. Repeatable.
        #[arg(short = 'S', long = "set-param", value_name = "[FILE:]KEY=VALUE")]
        set_param: Vec<String>,
        /// Stages to reproduce (with everything upstream); default: all.
        targets: Vec<String>,
        /// Run even the stages that did not change.
        #[arg(short, long)]
        force: bool,
    },
}

/// `train` with `--set` overrides applied on top of the params file; `save_params` receives
/// the parameters the training used (defaults filled in), so a run can be compared and
/// repeated by reading one file.
// The `train` command's arguments, one for one.
#[allow(clippy::too_many_arguments)]
pub fn train(
    data: &Path,
    out: &Path,
    params_file: Option<&Path>,
    plots: &Path,
    kind: commands::Kind,
    set: &[String],
    save_params: Option<&Path>,
    selection: &crate::train::groups::Selection,
) -> Result<()> {
    let mut params = match params_file {
        Some(p) => Params::load(p)?,
        None => Params::default(),
    };
    for arg in set {
        let (key, value) = split_override(arg)?;
        params.set(key, value)?;
    }
    commands::train_groups(data, out, &params, plots, kind, selection)?;
    if let Some(path) = save_params {
        let mut text = String::from("# The parameters this model was trained with (params file + --set overrides).\n");
        text.push_str(&serde_norway::to_string(&params).context("serialising the parameters")?);
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
        }
        atomic_file::write(path, text.as_bytes(), atomic_file::Durability::Fast)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

/// Runs `exp ...` from the current directory.
pub fn run(args: ExpArgs) -> Result<()> {
    let ExpCommand::Run { set_param, targets, force } = args.cmd;
    let cwd = std::env::current_dir().context("reading the current directory")?;
    // Group the overrides by file, keeping the order given.
    let mut by_file: Vec<(PathBuf, Vec<(String, String)>)> = Vec::new();
    for arg in &set_param {
        let (file, kv) = match (arg.find(':'), arg.find('=')) {
            (Some(c), Some(e)) if c < e => (cwd.join(&arg[..c]), &arg[c + 1..]),
            _ => (cwd.join("params.yaml"), arg.as_str()),
        };
        let (k, v) = split_override(kv)?;
        match by_file.iter_mut().find(|(f, _)| *f == file) {
            Some((_, list)) => list.push((k.to_string(), v.to_string())),
            None => by_file.push((file, vec![(k.to_string(), v.to_string())])),
        }
    }
    for (file, sets) in &by_file {
        let text = std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
        let mut edited = text.clone();
        for (k, v) in sets {
            edited = edit_params_text(&edited, k, v).with_context(|| format!("editing {}", file.display()))?;
        }
        // A file whose training sections loaded before must still load (a wrong type fails
        // now, not inside a stage); other pipelines' params files are only checked as YAML.
        let name = file.display().to_string();
        if Params::parse(&text, &name).is_ok() {
            Params::parse(&edited, &name)?;
        }
        if edited != text {
            atomic_file::write(file, edited.as_bytes(), atomic_file::Durability::Durable)
                .with_context(|| format!("writing {}", file.display()))?;
            for (k, v) in sets {
                println!("Set {k}={v} in {}", file.display());
            }
        }
    }
    let project = Project::open(&cwd)?;
    let opts = ReproOptions { targets, force, dry: false, downstream: false };
    let results = dvc_pipeline::repro::repro(&project, &opts, &mut |l| println!("{l}"))?;
    let ran = results.iter().filter(|(_, o)| *o == Outcome::Ran).count();
    let restored = results.iter().filter(|(_, o)| *o == Outcome::RestoredFromRunCache).count();
    println!("Experiment done: {ran} stage(s) ran, {restored} restored from the run-cache.");
    Ok(())
}

/// Sets dotted `key` to `value` (YAML) in a params file's text, changing only that value's text:
/// comments, blank lines, key order and the other values stay byte for byte. A key whose value is
/// a block (a list or mapping on the following lines) gets the new value on its own line and the
/// block removed. The result is checked by parsing it: it must equal the old document with only
/// that value changed, else it is an error (edit such a file by hand).
pub fn edit_params_text(text: &str, key: &str, value: &str) -> Result<String, ParamsError> {
    let err = |message: String| ParamsError::Override { key: key.to_string(), message };
    let parse = |t: &str| -> Result<serde_norway::Value, ParamsError> {
        if t.trim().is_empty() {
            return Ok(serde_norway::Value::Mapping(Default::default()));
        }
        serde_norway::from_str(t).map_err(|e| err(format!("the params file is not valid YAML: {e}")))
    };
    let mut expected = parse(text)?;
    set_dotted(&mut expected, key, value)?;

    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let mut range = 0..lines.len();
    let mut found = None;
    let parts: Vec<&str> = key.split('.').collect();
    for (depth, part) in parts.iter().enumerate() {
        // Direct children are the key lines at the smallest indentation in the range.
        let child_indent = range.clone().filter_map(|i| content_of(lines[i])).map(|(ind, _)| ind).min();
        let Some(child_indent) = child_indent else { break };
        let hit = range.clone().find(|&i| {
            matches!(content_of(lines[i]), Some((ind, c)) if ind == child_indent && key_of(c).is_some_and(|(k, _)| k == *part))
        });
        let Some(i) = hit else { break };
        let end = block_end(&lines, i, child_indent);
        if depth + 1 == parts.len() {
            found = Some((i, end));
        }
        range = i + 1..end;
    }
    // set_dotted succeeded, so the key exists: not finding it means a layout this editor does
    // not read (flow mappings, quoted or complex keys).
    let Some((i, end)) = found else {
        return Err(err("its line could not be found (flow-style or quoted keys); edit the file by hand".into()));
    };
    let line = lines[i];
    let (_, content) = content_of(line).ok_or_else(|| err("its line could not be read".into()))?;
    let (_, after_colon) = key_of(content).ok_or_else(|| err("its line could not be read".into()))?;
    let value_start = line.len() - after_colon.len();
    let rest = &line[value_start..];
    let body = rest.trim_end_matches(['\n', '\r']);
    let newline = &rest[body.len()..];
    let comment_at = comment_start(body);
    let (value_part, comment) = match comment_at {
        Some(c) => (&body[..c], &body[c..]),
        None => (body, ""),
    };
    let old_value = value_part.trim();
    let lead = &value_part[..value_part.len() - value_part.trim_start().len()];
    let gap = &value_part[value_part.trim_end().len()..];
    let mut new_line = String::from(&line[..value_start]);
    if old_value.is_empty() || old_value.starts_with('|') || old_value.starts_with('>') {
        new_line.push(' ');
        new_line.push_str(value);
        if !comment.is_empty() {
            new_line.push_str("  ");
        }
    } else {
        new_line.push_str(if lead.is_empty() { " " } else { lead });
        new_line.push_str(value);
        new_line.push_str(if gap.is_empty() && !comment.is_empty() { " " } else { gap });
    }
    new_line.push_str(comment);
    new_line.push_str(newline);
    // The old value's block (a list or mapping below the key) goes; trailing comments and blank
    // lines, which usually introduce what follows, stay.
    let mut block_last = end;
    while block_last > i + 1 && content_of(lines[block_last - 1]).is_none() {
        block_last -= 1;
    }
    let mut out = String::with_capacity(text.len() + value.len());
    for l in &lines[..i] {
        out.push_str(l);
    }
    out.push_str(&new_line);
    for l in &lines[block_last..] {
        out.push_str(l);
    }
    if parse(&out)? != expected {
        return Err(err(format!("could not replace {old_value:?} with {value:?} in place; edit the file by hand")));
    }
    Ok(out)
}

/// Indentation and content of a line holding YAML (not blank, not a comment, not `---`).
fn content_of(line: &str) -> Option<(usize, &str)> {
    let trimmed = line.trim_start_matches(' ');
    let c = trimmed.trim_end();
    if c.is_empty() || c.starts_with('#') || c == "---" {
        return None;
    }
    Some((line.len() - trimmed.len(), trimmed))
}

/// `key: value` → (`key`, text after the colon); `None` for a list item or a non-key line.
fn key_of(content: &str) -> Option<(&str, &str)> {
    if content.starts_with("- ") || content == "-" {
        return None;
    }
    let mut search = 0;
    while let Some(off) = content[search..].find(':') {
        let at = search + off;
        let after = &content[at + 1..];
        if after.is_empty() || after.starts_with([' ', '\t', '\n', '\r']) {
            let k = content[..at].trim();
            let k = k.strip_prefix('"').and_then(|k| k.strip_suffix('"')).unwrap_or(k);
            let k = k.strip_prefix('\'').and_then(|k| k.strip_suffix('\'')).unwrap_or(k);
            return Some((k, after));
        }
        search = at + 1;
    }
    None
}

/// One past the last line of the value of the key on line `i` (indented `indent`): lines
/// indented deeper, list items at the same indentation, and comments or blanks among them.
fn block_end(lines: &[&str], i: usize, indent: usize) -> usize {
    let mut end = i + 1;
    for (j, l) in lines.iter().enumerate().skip(i + 1) {
        match content_of(l) {
            None => continue,
            Some((ind, c)) if ind > indent || (ind == indent && (c.starts_with("- ") || c == "-")) => end = j + 1,
            Some(_) => break,
        }
    }
    end
}

/// Byte offset of an inline comment (` #` outside quotes) in a value's text.
fn comment_start(s: &str) -> Option<usize> {
    let mut quote: Option<char> = None;
    let mut prev = ' ';
    for (i, ch) in s.char_indices() {
        match quote {
            Some(q) if ch == q => quote = None,
            Some(_) => {}
            None if ch == '"' || ch == '\'' => quote = Some(ch),
            None if ch == '#' && (prev == ' ' || prev == '\t') => return Some(i),
            None => {}
        }
        prev = ch;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::edit_params_text;

    const DOC: &str = "# top comment\ndata:\n  window: 0   # auto\n  ignore: [a, b]\nmodel:\n  hidden:\n  - 32\n  - 16\n  # about train\ntrain:\n  epochs: 100\n";

    #[test]
    fn edits_only_the_value_text() {
        let out = edit_params_text(DOC, "data.window", "4").expect("edit");
        assert_eq!(out, DOC.replace("window: 0   # auto", "window: 4   # auto"));
        let out = edit_params_text(DOC, "train.epochs", "2").expect("edit");
        assert_eq!(out, DOC.replace("epochs: 100", "epochs: 2"));
    }

    #[test]
    fn a_block_value_becomes_one_line_and_comments_after_it_stay() {
        let out = edit_params_text(DOC, "model.hidden", "[64,32,32,64]").expect("edit");
        assert_eq!(out, DOC.replace("  hidden:\n  - 32\n  - 16\n", "  hidden: [64,32,32,64]\n"));
    }

    #[test]
    fn unknown_keys_are_errors_naming_the_known_ones() {
        let e = edit_params_text(DOC, "train.epoch", "2").expect_err("typo").to_string();
        assert!(e.contains("train.epoch") && e.contains("epochs"), "{e}");
    }
}
