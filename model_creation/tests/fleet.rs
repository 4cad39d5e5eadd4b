//! Fleet-scale data against the in-process S3 server, through the `model-creation` binary:
//! weekly `collect` (a batch per ISO week, metadata per file, the manifest last; nothing is
//! collected twice, a killed run is completed by the next) and `assemble`.

mod pipeline_support;

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use pipeline_support::*;

/// The AWS variables that point plain s3:// URLs at the server.
fn aws(server: &S3Server) -> [(&'static str, String); 3] {
    [
        ("AWS_ENDPOINT_URL", server.endpoint.clone()),
        ("AWS_ACCESS_KEY_ID", AK.to_string()),
        ("AWS_SECRET_ACCESS_KEY", SK.to_string()),
    ]
}

fn mc(server: &S3Server, dir: &Path, args: &[&str]) -> Output {
    let vars = aws(server);
    let env: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
    run(&ours(), dir, args, &env)
}

fn mc_ok(server: &S3Server, dir: &Path, args: &[&str]) -> String {
    let out = mc(server, dir, args);
    assert!(
        out.status.success(),
        "model-creation {args:?}:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Every object under `bucket/prefix` on the server: (key below the prefix, bytes).
fn objects(server: &S3Server, prefix: &str) -> Vec<(String, Vec<u8>)> {
    let root = server.root.path().join(prefix);
    let mut out: Vec<(String, Vec<u8>)> = Vec::new();
    fn walk(root: &Path, dir: &Path, out: &mut Vec<(String, Vec<u8>)>) {
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(root, &path, out);
            } else if let Ok(rel) = path.strip_prefix(root) {
                out.push((rel.to_string_lossy().into_owned(), std::fs::read(&path).expect("read object")));
            }
        }
    }
    walk(&root, &root, &mut out);
    out.sort();
    out
}

/// Files in `dir` whose name ends with `suffix`.
fn count_named(dir: &Path, suffix: &str) -> usize {
    std::fs::read_dir(dir)
        .map(|d| d.flatten().filter(|e| e.file_name().to_string_lossy().ends_with(suffix)).count())
        .unwrap_or(0)
}

/// Starts `model-creation ARGS` and kills it (SIGKILL) once `dir` holds `at_least` files ending in
/// `suffix`; fails if it finishes first. Returns how many such files it left.
fn run_and_kill(server: &S3Server, cwd: &Path, args: &[&str], dir: &Path, suffix: &str, at_least: usize) -> usize {
    let vars = aws(server);
    let mut child = Command::new(ours())
        .args(args)
        .current_dir(cwd)
        .envs(vars.iter().map(|(k, v)| (*k, v.as_str())))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start model-creation");
    let started = Instant::now();
    while count_named(dir, suffix) < at_least {
        assert!(started.elapsed() < Duration::from_secs(60), "{args:?} wrote nothing in a minute");
        assert!(child.try_wait().expect("poll").is_none(), "{args:?} finished before it could be killed");
        std::thread::sleep(Duration::from_millis(2));
    }
    child.kill().expect("kill");
    child.wait().expect("reap");
    // The server may still be finishing a request the process sent before it died.
    let mut left = count_named(dir, suffix);
    loop {
        std::thread::sleep(Duration::from_millis(300));
        let now = count_named(dir, suffix);
        if now == left {
            return left;
        }
        left = now;
    }
}

fn manifest(server: &S3Server, week: &str) -> serde_json::Value {
    manifest_at(server, &format!("bucket/raw/{week}"))
}

fn manifest_at(server: &S3Server, batch: &str) -> serde_json::Value {
    let path = server.root.path().join(batch).join("manifest.json");
    serde_json::from_slice(&std::fs::read(&path).expect("manifest.json")).expect("manifest is JSON")
}

#[test]
fn collect_twice_in_one_week_collects_once_and_lists_what_it_skipped() {
    let server = S3Server::start(&["bucket"]);
    let work = tempfile::tempdir().expect("tempdir");
    let dir = work.path();
    write(
        dir,
        &[
            ("drop/pump-a.csv", b"timestamp,flow\n2026-11-30T00:00:00Z,1.5\n2026-11-30T00:10:00Z,1.7\n"),
            ("drop/pump-b.csv", b"timestamp,flow\n2026-11-30T00:00:00Z,2.5\n"),
            ("drop/broken.csv", b"timestamp,flow\n2026-11-30T00:00:00Z\n"),
            ("drop/.partial.csv.tmp", b"half a fi"),
        ],
    );
    let first = mc_ok(&server, dir, &["collect", "--to", "s3://bucket/raw/", "--source", "drop", "--week", "2026-W49"]);
    assert!(first.contains("2 collected, 0 already there, 1 skipped; manifest written"), "{first}");
    let m = manifest(&server, "2026-W49");
    let files: Vec<&str> =
        m["files"].as_array().expect("files").iter().map(|f| f["file"].as_str().unwrap_or("")).collect();
    assert_eq!(files, ["pump-a.csv", "pump-b.csv"]);
    assert_eq!(m["files"][0]["rows"], 2);
    assert_eq!(m["files"][0]["columns"], serde_json::json!(["timestamp", "flow"]));
    assert_eq!(m["files"][0]["time_range"]["start"], "2026-11-30T00:00:00Z");
    assert_eq!(m["files"][0]["time_range"]["end"], "2026-11-30T00:10:00Z");
    assert_eq!(m["skipped"][0]["error"], "not a valid CSV: line 2: 1 fields where the header has 2");
    let meta: serde_json::Value = serde_json::from_slice(
        &std::fs::read(server.root.path().join("bucket/raw/2026-W49/pump-a.csv.meta.json")).expect("meta"),
    )
    .expect("meta JSON");
    assert_eq!(meta, m["files"][0], "each file's metadata is the manifest's entry");
    assert!(meta["source"].as_str().is_some_and(|s| s.ends_with("drop/pump-a.csv")));

    // The same week again, by glob this time: nothing new, and not one object rewritten.
    let before = objects(&server, "bucket/raw");
    let again =
        mc_ok(&server, dir, &["collect", "--to", "s3://bucket/raw/", "--source", "drop/*.csv", "--week", "2026-W49"]);
    assert!(again.contains("0 collected, 2 already there, 1 skipped; nothing new, bucket unchanged"), "{again}");
    assert_eq!(objects(&server, "bucket/raw"), before);

    // Next week a new file arrives beside the old ones: only it is collected.
    write(dir, &[("drop/pump-c.csv", b"timestamp,flow\n2026-12-07T00:00:00Z,3.5\n")]);
    let next = mc_ok(&server, dir, &["collect", "--to", "s3://bucket/raw/", "--source", "drop", "--week", "2026-W50"]);
    assert!(next.contains("1 collected, 2 already there, 1 skipped"), "{next}");
    let files = manifest(&server, "2026-W50")["files"].clone();
    assert_eq!(files.as_array().map(Vec::len), Some(1));
    assert_eq!(files[0]["file"], "pump-c.csv");

    // The simulator: a week gives the same files every time, so a rerun collects nothing.
    let sim =
        mc_ok(&server, dir, &["collect", "--to", "s3://bucket/sim/", "--source", "simulator", "--week", "2026-W10"]);
    assert!(sim.contains("3 collected"), "{sim}");
    let sim_again =
        mc_ok(&server, dir, &["collect", "--to", "s3://bucket/sim/", "--source", "simulator", "--week", "2026-W10"]);
    assert!(sim_again.contains("0 collected, 3 already there"), "{sim_again}");
    let other_week =
        mc_ok(&server, dir, &["collect", "--to", "s3://bucket/sim/", "--source", "simulator", "--week", "2026-W11"]);
    assert!(other_week.contains("3 collected"), "{other_week}");
    let csv = std::fs::read_to_string(server.root.path().join("bucket/sim/2026-W11/machine-02.csv")).expect("csv");
    assert!(csv.starts_with("timestamp,machine,temperature,"), "{csv}");
    // ISO week 11 of 2026 begins on Monday 9 March.
    assert!(csv.lines().nth(1).is_some_and(|l| l.starts_with("2026-03-09T00:00:00Z,m02,")), "{csv}");
    assert_eq!(csv.lines().count(), 1 + 7 * 24 * 6);

    // The training set: the latest complete batches, one header, every row, in week order.
    mc_ok(&server, dir, &["assemble", "--from", "s3://bucket/sim/", "--weeks", "1", "--out", "train.csv"]);
    let train = std::fs::read_to_string(dir.join("train.csv")).expect("train.csv");
    assert_eq!(train.lines().count(), 1 + 3 * 7 * 24 * 6);
    assert!(train.lines().nth(1).is_some_and(|l| l.starts_with("2026-03-09T00:00:00Z,m01,")));
    let mixed = mc(&server, dir, &["assemble", "--from", "s3://bucket/raw/", "--weeks", "2", "--out", "mixed.csv"]);
    assert!(mixed.status.success(), "{}", String::from_utf8_lossy(&mixed.stderr));

    // Another S3 server as the source, through a DVC-style remote (its own endpoint and keys).
    let edge = S3Server::start(&["edge"]);
    write(edge.root.path(), &[("edge/drop/site-1.csv", b"timestamp,flow\n1,2\n"), ("edge/drop/site-2.csv", b"oops")]);
    mc_ok(&server, dir, &["init"]);
    mc_ok(&server, dir, &["remote", "add", "edge", "s3://edge"]);
    mc_ok(&server, dir, &["remote", "modify", "edge", "endpointurl", &edge.endpoint]);
    mc_ok(&server, dir, &["remote", "modify", "--local", "edge", "access_key_id", AK]);
    mc_ok(&server, dir, &["remote", "modify", "--local", "edge", "secret_access_key", SK]);
    let remote = mc_ok(
        &server,
        dir,
        &["collect", "--to", "s3://bucket/site/", "--source", "remote://edge/drop/", "--week", "2026-W49"],
    );
    assert!(remote.contains("1 collected, 0 already there, 1 skipped"), "{remote}");
    let m = manifest_at(&server, "bucket/site/2026-W49");
    assert_eq!(m["files"][0]["source"], "remote://edge/drop/site-1.csv");
    assert_eq!(m["skipped"][0]["source"], "remote://edge/drop/site-2.csv");

    let bad = mc(&server, dir, &["collect", "--to", "s3://bucket/raw/", "--source", "nowhere", "--week", "2026-W49"]);
    assert!(String::from_utf8_lossy(&bad.stderr).contains("'nowhere' is neither a directory"), "{bad:?}");
}

#[test]
fn a_killed_collect_is_completed_by_the_next_run_without_duplicates() {
    let server = S3Server::start(&["bucket"]);
    let work = tempfile::tempdir().expect("tempdir");
    let dir = work.path();
    const FILES: usize = 300;
    let row = "2026-11-30T00:00:00Z,1.25,2.5,3.75\n".repeat(600);
    for i in 0..FILES {
        write(dir, &[(&format!("drop/unit-{i:03}.csv"), format!("timestamp,a,b,c\n{i},0,0,0\n{row}").as_bytes())]);
    }
    // Kill it as soon as a few files (with their metadata) are in the bucket.
    let batch = server.root.path().join("bucket/raw/2026-W49");
    let args = ["collect", "--to", "s3://bucket/raw/", "--source", "drop", "--week", "2026-W49"];
    let partial = run_and_kill(&server, dir, &args, &batch, ".meta.json", 3);
    assert!(partial < FILES, "the kill came after the last file");
    assert!(!batch.join("manifest.json").exists(), "a killed batch has no manifest");

    let out = mc_ok(&server, dir, &["collect", "--to", "s3://bucket/raw/", "--source", "drop", "--week", "2026-W49"]);
    assert!(out.contains(&format!("{} collected, {partial} already there", FILES - partial)), "{out}");
    let m = manifest(&server, "2026-W49");
    let mut listed: Vec<String> =
        m["files"].as_array().expect("files").iter().map(|f| f["file"].as_str().unwrap_or("").to_string()).collect();
    listed.sort();
    let expected: Vec<String> = (0..FILES).map(|i| format!("unit-{i:03}.csv")).collect();
    assert_eq!(listed, expected, "every file exactly once");
    let data = objects(&server, "bucket/raw/2026-W49");
    assert_eq!(data.len(), 2 * FILES + 1, "one object per file, one metadata per file, one manifest");
}

/// A small model trained on the simulated pump data, and the simulated test table.
fn trained_model(server: &S3Server, dir: &Path) -> String {
    mc_ok(server, dir, &["simulate", "--out", "sim"]);
    mc_ok(
        server,
        dir,
        &["train", "--data", "sim/train.csv", "--out", "model", "--plots", "plots", "--set", "train.epochs=3"],
    );
    std::fs::read_to_string(dir.join("sim/test.csv")).expect("test.csv")
}

/// The first `rows` data rows of a CSV, with its header.
fn head(csv: &str, rows: usize) -> String {
    csv.lines().take(rows + 1).map(|l| format!("{l}\n")).collect()
}

#[test]
fn batch_score_equals_score_per_file_covers_each_file_once_across_shards_and_records_failures() {
    let server = S3Server::start(&["bucket"]);
    let work = tempfile::tempdir().expect("tempdir");
    let dir = work.path();
    let test = trained_model(&server, dir);
    // Tables of many sizes (one of several thousand rows, read and scored in pieces), in
    // sub-prefixes too, one without the model's columns and one that is not CSV at all.
    let mut inputs: Vec<(String, String)> = Vec::new();
    for (i, rows) in [2016usize, 4, 5, 40, 333, 1000, 1500, 2015].iter().enumerate() {
        let key = if i % 3 == 0 { format!("site-{i}/part.csv") } else { format!("table-{i}.csv") };
        inputs.push((key, head(&test, *rows)));
    }
    // Quotes: read by the full CSV reader rather than the fast path, with the same scores.
    let quoted_header: String =
        test.lines().next().unwrap_or("").split(',').map(|c| format!("\"{c}\"")).collect::<Vec<_>>().join(",");
    inputs.push((
        "quoted.csv".into(),
        format!("{quoted_header}\n") + &head(&test, 700)[test.find('\n').map_or(0, |i| i + 1)..],
    ));
    // More rows than batch-score reads at a time (8192).
    let rows: String = test.lines().skip(1).map(|l| format!("{l}\n")).collect();
    inputs.push(("big.csv".into(), head(&test, 0) + &rows.repeat(5)));
    for (key, body) in &inputs {
        write(dir, &[(&format!("local/{key}"), body.as_bytes())]);
        write(server.root.path(), &[(&format!("bucket/in/{key}"), body.as_bytes())]);
    }
    write(
        server.root.path(),
        &[("bucket/in/wrong-columns.csv", b"x,y\n1,2\n"), ("bucket/in/notes.CSV", b"\"unclosed\n")],
    );
    write(server.root.path(), &[("bucket/in/short.csv", head(&test, 3).as_bytes())]);
    write(server.root.path(), &[("bucket/in/readme.txt", b"not scored: not a .csv")]);

    // Three pods of an Indexed Job, at once.
    let vars = aws(&server);
    let pods: Vec<_> = (0..3)
        .map(|i| {
            Command::new(ours())
                .args(["batch-score", "--model", "model", "--input", "s3://bucket/in/", "--output", "s3://bucket/out/"])
                .args(["--shards", "3", "--threads", "2"])
                .env("JOB_COMPLETION_INDEX", i.to_string())
                .envs(vars.iter().map(|(k, v)| (*k, v.as_str())))
                .current_dir(dir)
                .output()
                .expect("start batch-score")
        })
        .collect();
    let codes: Vec<Option<i32>> = pods.iter().map(|o| o.status.code()).collect();
    assert!(codes.iter().all(|c| matches!(c, Some(0 | 3))), "{pods:?}");
    assert!(codes.contains(&Some(3)), "the shards holding the bad files exit with 3: {codes:?}");

    // Every good file's scores are `score`'s, byte for byte.
    for (key, _) in &inputs {
        let name = key.trim_end_matches(".csv");
        mc_ok(&server, dir, &["score", "--model", "model", "--data", &format!("local/{key}"), "--out", "expected.csv"]);
        let expected = std::fs::read(dir.join("expected.csv")).expect("score output");
        let got =
            std::fs::read(server.root.path().join(format!("bucket/out/{name}.scores.csv"))).expect("batch scores");
        assert!(got == expected, "{key}: batch-score differs from score");
        let summary: serde_json::Value = serde_json::from_slice(
            &std::fs::read(server.root.path().join(format!("bucket/out/{name}.summary.json"))).expect("summary"),
        )
        .expect("summary JSON");
        assert_eq!(summary["rows"], expected.iter().filter(|&&b| b == b'\n').count() - 1, "{key}");
        assert_eq!(summary["error"], serde_json::Value::Null);
    }
    let failed: serde_json::Value = serde_json::from_slice(
        &std::fs::read(server.root.path().join("bucket/out/wrong-columns.summary.json")).expect("failed summary"),
    )
    .expect("JSON");
    assert!(failed["error"].as_str().is_some_and(|e| e.contains("missing column")), "{failed}");
    assert!(!server.root.path().join("bucket/out/wrong-columns.scores.csv").exists());

    // The manifests together name every file once; --summary merges them.
    let summary = mc(&server, dir, &["batch-score", "--summary", "--output", "s3://bucket/out/"]);
    assert_eq!(summary.status.code(), Some(3), "{summary:?}");
    let merged: serde_json::Value = serde_json::from_slice(&summary.stdout).expect("summary JSON");
    assert_eq!(merged["shards_found"], serde_json::json!([0, 1, 2]));
    assert_eq!(merged["files"], inputs.len() + 3, "each file in exactly one shard");
    let mut failures: Vec<&str> =
        merged["failures"].as_array().expect("failures").iter().filter_map(|f| f["input"].as_str()).collect();
    failures.sort();
    assert_eq!(failures, ["s3://bucket/in/notes.CSV", "s3://bucket/in/short.csv", "s3://bucket/in/wrong-columns.csv"]);
}

#[test]
fn a_batch_score_rerun_after_a_kill_scores_only_the_rest() {
    let server = S3Server::start(&["bucket"]);
    let work = tempfile::tempdir().expect("tempdir");
    let dir = work.path();
    let test = trained_model(&server, dir);
    const FILES: usize = 120;
    for i in 0..FILES {
        write(server.root.path(), &[(&format!("bucket/in/t-{i:03}.csv"), head(&test, 2016).as_bytes())]);
    }
    let out = server.root.path().join("bucket/out");
    let args = [
        "batch-score",
        "--model",
        "model",
        "--input",
        "s3://bucket/in/",
        "--output",
        "s3://bucket/out/",
        "--threads",
        "1",
    ];
    run_and_kill(&server, dir, &args, &out, ".summary.json", 5);
    let summaries = || count_named(&out, ".summary.json");
    let done = summaries();
    assert!(done < FILES, "the kill came after the last file");
    assert!(!out.join("_manifests").exists(), "a killed shard has no manifest");
    let first = out.join("t-000.scores.csv");
    let mtime = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).expect("mtime");
    let before = mtime(&first);

    let rerun = mc_ok(
        &server,
        dir,
        &["batch-score", "--model", "model", "--input", "s3://bucket/in/", "--output", "s3://bucket/out/"],
    );
    assert!(rerun.contains(&format!("{FILES} files ({done} already scored)")), "{rerun}");
    assert_eq!(mtime(&first), before, "a file scored before the kill is not scored again");
    assert_eq!(summaries(), FILES);
    // A changed input is scored again even though its summary exists.
    write(server.root.path(), &[("bucket/in/t-000.csv", head(&test, 100).as_bytes())]);
    let again = mc_ok(
        &server,
        dir,
        &["batch-score", "--model", "model", "--input", "s3://bucket/in/", "--output", "s3://bucket/out/"],
    );
    assert!(
        again.contains(&format!("{FILES} files ({} already scored), {} rows", FILES - 1, 2016 * (FILES - 1) + 100)),
        "{again}"
    );
}

/// `examples/fleet`: the training set comes from the bucket's latest batches through an S3
/// dependency; a new batch retrains, an unchanged bucket reruns nothing.
#[test]
fn the_fleet_example_retrains_when_a_new_batch_lands_and_only_then() {
    let server = S3Server::start(&["ae-anomaly"]);
    let work = tempfile::tempdir().expect("tempdir");
    let dir = work.path();
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/fleet");
    for file in ["dvc.yaml", "params.yaml", ".dvc/config", ".dvcignore"] {
        let text = std::fs::read_to_string(example.join(file)).expect("example file");
        // Two epochs: the test is about what reruns, not about the model.
        write(dir, &[(file, text.replace("epochs: 30", "epochs: 2").as_bytes())]);
    }
    let collect = |week: &str| {
        mc_ok(&server, dir, &["collect", "--to", "s3://ae-anomaly/raw/", "--source", "simulator", "--week", week])
    };
    let ran = |log: &str| -> Vec<String> {
        log.lines()
            .filter_map(|l| l.strip_prefix("Running stage '"))
            .map(|l| l.trim_end_matches("':").to_string())
            .collect()
    };
    collect("2026-W48");
    assert_eq!(ran(&mc_ok(&server, dir, &["repro"])), ["assemble", "train"]);
    let lock = std::fs::read_to_string(dir.join("dvc.lock")).expect("dvc.lock");
    assert!(lock.contains("    - path: s3://ae-anomaly/raw/\n      hash: md5\n      md5: "), "{lock}");
    assert!(lock.contains("      nfiles: 7\n"), "3 files, 3 metadata files and a manifest: {lock}");
    assert_eq!(ran(&mc_ok(&server, dir, &["repro"])), Vec::<String>::new());
    collect("2026-W48");
    assert_eq!(ran(&mc_ok(&server, dir, &["repro"])), Vec::<String>::new(), "collect found nothing new");
    collect("2026-W49");
    assert_eq!(ran(&mc_ok(&server, dir, &["repro"])), ["assemble", "train"], "a new batch retrains");
    let train = std::fs::read_to_string(dir.join("data/train.csv")).expect("train.csv");
    assert_eq!(train.lines().count(), 1 + 2 * 3 * 7 * 24 * 6, "both weeks' batches");
}

/// The rows of one machine from a fleet CSV (and their labels), for scoring them apart.
fn machine_rows(dir: &Path, machine: &str) -> (String, Vec<bool>) {
    let test = std::fs::read_to_string(dir.join("fleet/test.csv")).expect("test.csv");
    let labels = std::fs::read_to_string(dir.join("fleet/labels.csv")).expect("labels.csv");
    let mut csv = format!("{}\n", test.lines().next().unwrap_or(""));
    let mut flags = Vec::new();
    for (row, label) in test.lines().skip(1).zip(labels.lines().skip(1)) {
        if row.split(',').nth(1) == Some(machine) {
            csv.push_str(row);
            csv.push('\n');
            flags.push(label.trim() == "1");
        }
    }
    (csv, flags)
}

/// `data.group_by`: one model per machine, trained on every core; the faulty machine's own
/// model finds its anomalies; the set is the same bit for bit on one core.
#[test]
fn group_training_gives_each_machine_its_own_model_and_finds_the_faulty_ones_anomalies() {
    let server = S3Server::start(&["bucket"]);
    let work = tempfile::tempdir().expect("tempdir");
    let dir = work.path();
    // The last machine is the faulty one (the default).
    mc_ok(&server, dir, &["simulate", "--out", "fleet", "--machines", "4"]);
    let train = ["train", "--data", "fleet/train.csv", "--plots", "graph", "--set", "data.group_by=machine"];
    let out = mc(&server, dir, &[&train[..], &["--out", "set"]].concat());
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("set/set.json")).expect("set.json")).expect("set.json is JSON");
    assert_eq!(manifest["group_by"], "machine");
    let groups: Vec<&str> =
        manifest["groups"].as_array().expect("groups").iter().filter_map(|g| g["group"].as_str()).collect();
    assert_eq!(groups, ["m01", "m02", "m03", "m04"]);
    assert!(dir.join("graph/groups/m04/training_loss.png").is_file() && dir.join("graph/training_loss.png").is_file());

    // The faulty machine's rows, scored by its own model: its anomalies stand out.
    let member = model_core::Model::load(&dir.join("set/groups/m04")).expect("m04's model loads");
    assert_eq!(manifest["groups"][3]["version"], member.meta.version.as_str());
    let (csv, labels) = machine_rows(dir, "m04");
    assert!(labels.iter().filter(|l| **l).count() > 100, "the faulty machine has its anomalies");
    let (_, scores) = member.score_csv(csv.as_bytes(), "m04 rows").expect("scores");
    let scores: Vec<f64> = scores.scores.iter().map(|s| f64::from(*s)).collect();
    let auc = model_core::metrics::roc_auc(&scores, &labels);
    assert!(auc >= 0.9, "ROC-AUC of m04's own model on m04's rows: {auc}");

    // One core gives the same set, byte for byte.
    let vars = aws(&server);
    let one = Command::new(ours())
        .args([&train[..], &["--out", "set-1"]].concat())
        .current_dir(dir)
        .envs(vars.iter().map(|(k, v)| (*k, v.as_str())))
        .env("RAYON_NUM_THREADS", "1")
        .output()
        .expect("train on one core");
    assert!(one.status.success(), "{}", String::from_utf8_lossy(&one.stderr));
    assert_eq!(snapshot(&dir.join("set-1")), snapshot(&dir.join("set")));

    // Shares of the groups, as an Indexed Job's pods train them and upload them to S3: each
    // group once, the same model.
    let mut seen = Vec::new();
    for i in 0..3 {
        let shard = format!("{i}/3");
        let url = format!("s3://bucket/sets/run-1/part-{i}/");
        let log = mc(&server, dir, &[&train[..], &["--out", &url, "--shard", &shard]].concat());
        assert!(log.status.success(), "{}", String::from_utf8_lossy(&log.stderr));
        assert!(String::from_utf8_lossy(&log.stderr).contains(&format!("to {url}")), "{log:?}");
        let uploaded = server.root.path().join(format!("bucket/sets/run-1/part-{i}"));
        let part: serde_json::Value =
            serde_json::from_slice(&std::fs::read(uploaded.join("set.json")).expect("part")).expect("JSON");
        assert_eq!(part["part"], format!("shard {shard}"));
        for g in part["groups"].as_array().expect("groups") {
            let name = g["group"].as_str().unwrap_or("").to_string();
            let dir_name = g["dir"].as_str().unwrap_or("");
            assert_eq!(snapshot(&uploaded.join(dir_name)), snapshot(&dir.join(format!("set/{dir_name}"))));
            seen.push(name);
        }
    }
    seen.sort();
    assert_eq!(seen, ["m01", "m02", "m03", "m04"], "the shards cover every group exactly once");
    // Merged from the run's prefix, the parts are the set one run trains, byte for byte; a
    // missing part is named and nothing is written.
    let merged = mc_ok(&server, dir, &["merge-set", "--out", "merged", "s3://bucket/sets/run-1/"]);
    assert!(merged.starts_with("Merged 3 parts into model set"), "{merged}");
    assert_eq!(snapshot(&dir.join("merged")), snapshot(&dir.join("set")));
    let short = mc(
        &server,
        dir,
        &["merge-set", "--out", "short", "s3://bucket/sets/run-1/part-0/", "s3://bucket/sets/run-1/part-2/"],
    );
    assert!(!short.status.success() && !dir.join("short").exists());
    assert!(String::from_utf8_lossy(&short.stderr).contains("shard 1/3 of the set is missing"), "{short:?}");
    let nothing = mc(&server, dir, &["merge-set", "--out", "short", "s3://bucket/sets/run-2/"]);
    assert!(
        String::from_utf8_lossy(&nothing.stderr).contains("s3://bucket/sets/run-2/ holds no model set part"),
        "{nothing:?}"
    );

    // Evaluated as a set: each machine by its own model, reported per machine and overall.
    mc_ok(
        &server,
        dir,
        &["evaluate", "--model", "set", "--data", "fleet/test.csv", "--labels", "fleet/labels.csv", "--out", "eval"],
    );
    let metrics: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("eval/metrics.json")).expect("metrics.json")).expect("JSON");
    assert_eq!(metrics["group_by"], "machine");
    assert_eq!(metrics["model_set"], manifest["version"]);
    let m04 = &metrics["groups"]["m04"];
    assert_eq!(m04["model_version"], member.meta.version.as_str());
    let m04_auc = m04["roc_auc"].as_f64().unwrap_or(0.0);
    assert!((m04_auc - auc).abs() < 1e-9, "m04's ROC-AUC in the set's report {m04_auc} is its own model's {auc}");
    assert!(metrics["roc_auc"].as_f64().unwrap_or(0.0) > 0.5, "{metrics}");
    let scores = std::fs::read_to_string(dir.join("eval/scores.csv")).expect("scores.csv");
    assert_eq!(
        scores.lines().count(),
        std::fs::read_to_string(dir.join("fleet/test.csv")).expect("test").lines().count()
    );
    // Batch scoring with the set: each file's scores are `score --model set`'s, byte for byte,
    // whether machines interleave row by row, come in blocks, or span several pieces.
    let test = std::fs::read_to_string(dir.join("fleet/test.csv")).expect("test.csv");
    let (header, body) = test.split_once('\n').expect("header");
    let mut blocks: Vec<&str> = body.lines().collect();
    blocks.sort_by_key(|l| l.split(',').nth(1).unwrap_or("").to_string());
    let files = [
        ("interleaved.csv", test.clone()),
        ("blocks.csv", format!("{header}\n{}\n", blocks.join("\n"))),
        ("long.csv", format!("{header}\n{}", body.repeat(3))),
        ("stranger.csv", format!("{header}\n{}", body.replace(",m03,", ",m77,"))),
    ];
    for (name, csv) in &files {
        write(dir, &[(&format!("local/{name}"), csv.as_bytes())]);
        write(server.root.path(), &[(&format!("bucket/in/{name}"), csv.as_bytes())]);
    }
    let batch = mc(
        &server,
        dir,
        &["batch-score", "--model", "set", "--input", "s3://bucket/in/", "--output", "s3://bucket/out/"],
    );
    assert_eq!(batch.status.code(), Some(3), "the file with an unknown machine fails: {batch:?}");
    for (name, _) in &files[..3] {
        mc_ok(&server, dir, &["score", "--model", "set", "--data", &format!("local/{name}"), "--out", "expected.csv"]);
        let stem = name.trim_end_matches(".csv");
        let got = std::fs::read(server.root.path().join(format!("bucket/out/{stem}.scores.csv"))).expect("scores");
        assert!(
            got == std::fs::read(dir.join("expected.csv")).expect("expected"),
            "{name}: batch-score differs from score"
        );
        let summary: serde_json::Value = serde_json::from_slice(
            &std::fs::read(server.root.path().join(format!("bucket/out/{stem}.summary.json"))).expect("summary"),
        )
        .expect("JSON");
        assert_eq!(summary["model"], format!("set:{}", manifest["version"].as_str().unwrap_or("")));
        assert!(summary["threshold"].is_null(), "{summary}");
        let machines: Vec<&str> =
            summary["groups"].as_array().expect("groups").iter().filter_map(|g| g["group"].as_str()).collect();
        assert_eq!(machines, ["m01", "m02", "m03", "m04"], "{summary}");
        assert_eq!(summary["groups"][3]["model_version"], member.meta.version.as_str());
    }
    let stranger: serde_json::Value = serde_json::from_slice(
        &std::fs::read(server.root.path().join("bucket/out/stranger.summary.json")).expect("summary"),
    )
    .expect("JSON");
    let error = stranger["error"].as_str().unwrap_or("");
    assert!(error.contains("\"m77\"") && error.contains("has no model in this set"), "{stranger}");

    // The promotion gate between sets: overall and machine by machine. A set trained on noise
    // is refused, naming the machines it is worse on; the alias stays.
    let mut noise = format!("{header}\n");
    let mut x: u64 = 7;
    for i in 0..2400 {
        let mut cell = || {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (x >> 33) as f64 / f64::from(1u32 << 31) * 100.0
        };
        let values: Vec<String> = (0..6).map(|_| format!("{:.3}", cell())).collect();
        noise.push_str(&format!("{i},m0{},{}\n", i % 4 + 1, values.join(",")));
    }
    write(dir, &[("noise.csv", noise.as_bytes())]);
    mc_ok(
        &server,
        dir,
        &["train", "--data", "noise.csv", "--out", "noise-set", "--plots", "graph-noise"]
            .into_iter()
            .chain(["--set", "data.group_by=machine", "--set", "train.epochs=1"])
            .collect::<Vec<_>>(),
    );
    let models = |args: &[&str]| mc(&server, dir, &[&["models", "--registry", "reg"][..], args].concat());
    let publish = |set: &str| {
        let out = models(&["publish", "--model", set, "--name", "fleet"]);
        assert!(out.status.success(), "{out:?}");
        String::from_utf8_lossy(&out.stdout).split_whitespace().last().unwrap_or("").to_string()
    };
    let (good, bad) = (publish("set"), publish("noise-set"));
    let gate = ["--to", "champion", "--data", "fleet/test.csv", "--labels", "fleet/labels.csv"];
    let first = models(&[&["promote", &format!("fleet:{good}")][..], &gate].concat());
    assert!(first.status.success(), "{first:?}");
    let refused = models(&[&["promote", &format!("fleet:{bad}")][..], &gate].concat());
    let report = String::from_utf8_lossy(&refused.stdout).into_owned();
    assert_eq!(refused.status.code(), Some(1), "{report}");
    assert!(report.contains("REFUSED") && report.contains("FAIL: group m04: ROC-AUC"), "{report}");
    let alias = models(&["--json", "alias", "get", "fleet@champion"]);
    let alias: serde_json::Value = serde_json::from_slice(&alias.stdout).expect("alias JSON");
    assert_eq!(alias["version"], good.as_str());

    mc_ok(&server, dir, &[&train[..], &["--out", "only-m02", "--group", "m02"]].concat());
    let only: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("only-m02/set.json")).expect("set.json")).expect("JSON");
    assert_eq!(only["groups"].as_array().map(Vec::len), Some(1));
    let part = mc(&server, dir, &["score", "--model", "only-m02", "--data", "fleet/test.csv", "--out", "p.csv"]);
    assert!(String::from_utf8_lossy(&part.stderr).contains("merge the parts with `model-creation merge-set` first"));
    let unknown = mc(&server, dir, &[&train[..], &["--out", "x", "--group", "m42"]].concat());
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("no group machine=\"m42\" (--group)"), "{unknown:?}");

    // A group with too few rows is reported and skipped; a missing column is named.
    let mut small = std::fs::read_to_string(dir.join("fleet/train.csv")).expect("train.csv");
    for i in 0..20 {
        small.push_str(&format!("2026-01-01T00:{i:02}:00Z,m99,20,3,50,10,0.5,230\n"));
    }
    write(dir, &[("small.csv", small.as_bytes())]);
    let skipped = mc(
        &server,
        dir,
        &[
            "train",
            "--data",
            "small.csv",
            "--out",
            "set-small",
            "--plots",
            "graph-small",
            "--set",
            "data.group_by=machine",
            "--set",
            "train.epochs=2",
        ],
    );
    assert!(skipped.status.success(), "{}", String::from_utf8_lossy(&skipped.stderr));
    assert!(String::from_utf8_lossy(&skipped.stderr).contains("WARNING: group machine=\"m99\" has 20 rows"));
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("set-small/set.json")).expect("set.json")).expect("JSON");
    assert_eq!(manifest["skipped"][0]["group"], "m99");
    assert_eq!(manifest["groups"].as_array().map(Vec::len), Some(4));
    let missing =
        mc(&server, dir, &["train", "--data", "fleet/train.csv", "--out", "x", "--set", "data.group_by=site"]);
    assert!(!missing.status.success());
    assert!(
        String::from_utf8_lossy(&missing.stderr).contains("no column \"site\" to group rows by (data.group_by)"),
        "{missing:?}"
    );
}

/// The `ae-group-training` Indexed Job's script, run as each of its pods runs it (its
/// `JOB_COMPLETION_INDEX`, the ConfigMap's variables pointing at the test server), then
/// `merge-set` over the run's prefix: the parts (one of them empty) make one whole set.
#[test]
fn the_group_training_jobs_pods_upload_parts_that_merge_into_one_set() {
    let server = S3Server::start(&["bucket"]);
    let work = tempfile::tempdir().expect("tempdir");
    let dir = work.path();
    let collect = ["collect", "--to", "s3://bucket/raw/", "--source", "simulator", "--machines", "3"];
    mc_ok(&server, dir, &[&collect[..], &["--week", "2026-W49"]].concat());

    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("../kubernetes/base/group-training-cronjob.yaml");
    let yaml: serde_json::Value =
        serde_norway::from_str(&std::fs::read_to_string(&manifest).expect("the manifest")).expect("YAML");
    let job = &yaml["spec"]["jobTemplate"]["spec"];
    assert_eq!(job["completionMode"], "Indexed");
    let completions = job["completions"].as_u64().expect("completions");
    let container = &job["template"]["spec"]["containers"][0];
    let command: Vec<&str> =
        container["command"].as_array().expect("command").iter().filter_map(serde_json::Value::as_str).collect();
    let args: Vec<&str> =
        container["args"].as_array().expect("args").iter().filter_map(serde_json::Value::as_str).collect();
    let bin_dir = ours().parent().expect("the binary's directory").to_path_buf();
    let path = format!("{}:{}", bin_dir.display(), std::env::var("PATH").unwrap_or_default());
    let vars = aws(&server);
    for index in 0..completions {
        let tmp = dir.join(format!("pod-{index}"));
        std::fs::create_dir_all(&tmp).expect("pod tmp");
        let pod = Command::new(command[0])
            .args(&command[1..])
            .args(&args)
            .current_dir(dir)
            .envs(vars.iter().map(|(k, v)| (*k, v.as_str())))
            .envs([
                ("PATH", path.as_str()),
                ("TMPDIR", &tmp.display().to_string()),
                ("JOB_COMPLETION_INDEX", &index.to_string()),
                ("RUN", "ae-group-training-1"),
                ("COLLECT_TO", "s3://bucket/raw/"),
                ("FLEET_WEEKS", "4"),
                ("FLEET_GROUP_BY", "machine"),
                ("FLEET_MODEL_NAME", "ae-fleet"),
                ("FLEET_SETS", "s3://bucket/sets"),
            ])
            .output()
            .expect("run the pod's script");
        assert!(pod.status.success(), "pod {index}: {}", String::from_utf8_lossy(&pod.stderr));
    }
    let merged = mc_ok(&server, dir, &["merge-set", "--out", "set", "s3://bucket/sets/ae-group-training-1/"]);
    assert!(merged.starts_with(&format!("Merged {completions} parts")), "{merged}");
    let set: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("set/set.json")).expect("set.json")).expect("JSON");
    assert_eq!(set["name"], "ae-fleet");
    assert_eq!(set["group_by"], "machine");
    let groups: Vec<&str> =
        set["groups"].as_array().expect("groups").iter().filter_map(|g| g["group"].as_str()).collect();
    assert_eq!(groups, ["m01", "m02", "m03"]);
    assert!(set.get("part").is_none_or(serde_json::Value::is_null), "{set}");
}
