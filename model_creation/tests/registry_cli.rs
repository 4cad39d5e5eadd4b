//! `model-creation models ...` end to end on the real binary, against a local registry and the
//! in-process S3 server: publish -> list -> show -> promote (first, no champion) -> promote an
//! equal model -> a deliberately worse model refused with exit 1, with and without labels ->
//! rollback; plus the gate's errors (exit 2). The models are trained once for all tests.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

/// A good model (5 epochs on the simulated training data), a deliberately bad one (1 epoch on
/// noise with the same columns), and the simulated data.
struct Fixture {
    good: PathBuf,
    bad: PathBuf,
    data: PathBuf,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let root = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("registry_cli-{}", std::process::id()));
        let data = root.join("data");
        ok(&models_cmd(&root, &["simulate", "--out", s(&data), "--seed", "5"], &[]));
        std::fs::write(root.join("good.yaml"), "train:\n  epochs: 5\n  seed: 1\n").unwrap();
        std::fs::write(root.join("bad.yaml"), "train:\n  epochs: 1\n  seed: 2\n").unwrap();
        write_noise(&data.join("train.csv"), &root.join("noise.csv"), 600);
        let (good, bad) = (root.join("good"), root.join("bad"));
        let plots = root.join("plots");
        let train = |csv: &Path, params: &str, out: &Path| {
            let args = ["train", "--data", s(csv), "--out", s(out), "--params", params, "--plots", s(&plots)];
            ok(&models_cmd(&root, &args, &[]));
        };
        train(&data.join("train.csv"), s(&root.join("good.yaml")), &good);
        train(&root.join("noise.csv"), s(&root.join("bad.yaml")), &bad);
        Fixture { good, bad, data }
    })
}

/// `rows` rows of uniform noise in [-1, 1] under `like`'s header (timestamps kept).
fn write_noise(like: &Path, out: &Path, rows: usize) {
    let text = std::fs::read_to_string(like).unwrap();
    let mut lines = text.lines();
    let header = lines.next().unwrap();
    let mut csv = format!("{header}\n");
    let mut state = 99u64;
    for line in lines.take(rows) {
        let mut cells = line.split(',');
        csv.push_str(cells.next().unwrap());
        for _ in cells {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            csv.push_str(&format!(",{:.4}", ((state >> 33) as f64 / (1u64 << 31) as f64) * 2.0 - 1.0));
        }
        csv.push('\n');
    }
    std::fs::write(out, csv).unwrap();
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn models_cmd(cwd: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    std::fs::create_dir_all(cwd).unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_model-creation"));
    cmd.args(args).current_dir(cwd).env_remove("MODEL_REGISTRY").env("MODEL_PUBLISHED_BY", "ci@test");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn ok(o: &Output) -> String {
    assert!(
        o.status.success(),
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        stdout(o),
        String::from_utf8_lossy(&o.stderr)
    );
    stdout(o)
}

fn code(o: &Output) -> i32 {
    o.status.code().unwrap_or(-1)
}

/// One registry to run commands against: `--registry ROOT` with the environment `env`.
struct Reg<'a> {
    cwd: PathBuf,
    root: String,
    env: Vec<(&'a str, &'a str)>,
}

impl Reg<'_> {
    fn run(&self, args: &[&str]) -> Output {
        let mut all = vec!["models", "--registry", self.root.as_str()];
        all.extend_from_slice(args);
        models_cmd(&self.cwd, &all, &self.env)
    }

    fn publish(&self, model: &Path) -> String {
        let out = ok(&self.run(&["publish", "--model", s(model), "--name", "ae"]));
        out.split_whitespace().last().unwrap().to_string()
    }

    fn champion(&self) -> String {
        let rec: serde_json::Value =
            serde_json::from_str(&ok(&self.run(&["--json", "alias", "get", "ae@champion"]))).unwrap();
        rec["version"].as_str().unwrap().to_string()
    }
}

/// The round trip every registry must pass.
fn round_trip(reg: &Reg) {
    let f = fixture();
    let (test, labels, train) = (f.data.join("test.csv"), f.data.join("labels.csv"), f.data.join("train.csv"));
    let v1 = reg.publish(&f.good);
    let listed = ok(&reg.run(&["list"]));
    assert!(listed.contains("ae") && listed.contains(&v1), "{listed}");
    let shown: serde_json::Value =
        serde_json::from_str(&ok(&reg.run(&["--json", "show", &format!("ae:{v1}")]))).unwrap();
    assert_eq!(shown["card"]["published_by"], "ci@test");
    assert_eq!(shown["card"]["features"].as_array().unwrap().len(), 6);

    // First promotion: no champion yet.
    let cand = format!("ae:{v1}");
    let out = ok(&reg.run(&["promote", &cand, "--to", "champion", "--data", s(&test), "--labels", s(&labels)]));
    assert!(out.contains("no champion yet") && out.contains("PROMOTED"), "{out}");
    assert_eq!(reg.champion(), v1);

    // An equal model (the same weights published again) passes, with labels.
    let v2 = reg.publish(&f.good);
    let out = ok(&reg.run(&["promote", &format!("ae:{v2}"), "--data", s(&test), "--labels", s(&labels)]));
    assert!(out.contains("PROMOTED"), "{out}");
    assert_eq!(reg.champion(), v2);

    // A deliberately worse model is refused with exit 1, with labels and without.
    let v3 = reg.publish(&f.bad);
    let bad = format!("ae:{v3}");
    let refused = reg.run(&["promote", &bad, "--data", s(&test), "--labels", s(&labels)]);
    assert_eq!(code(&refused), 1, "{}", stdout(&refused));
    assert!(stdout(&refused).contains("REFUSED"), "{}", stdout(&refused));
    let refused = reg.run(&["--json", "promote", &bad, "--data", s(&train)]);
    assert_eq!(code(&refused), 1, "{}", stdout(&refused));
    let verdict: serde_json::Value = serde_json::from_str(&stdout(&refused)).unwrap();
    assert_eq!(verdict["promoted"], false);
    assert!(
        verdict["candidate"]["figures"]["flagged_rate"].as_f64()
            > verdict["champion"]["figures"]["flagged_rate"].as_f64()
    );
    assert_eq!(reg.champion(), v2, "a refusal moves nothing");

    // Rollback goes back along the history.
    let out = ok(&reg.run(&["rollback", "ae"]));
    assert!(out.contains(&v1), "{out}");
    assert_eq!(reg.champion(), v1);

    // pull writes a model the other commands load.
    let pulled = reg.cwd.join("pulled");
    ok(&reg.run(&["pull", "ae@champion", "--out", s(&pulled)]));
    let scored = reg.cwd.join("scores.csv");
    ok(&models_cmd(&reg.cwd, &["score", "--model", s(&pulled), "--data", s(&test), "--out", s(&scored)], &[]));
}

#[test]
fn local_registry_round_trip_and_gate() {
    let dir = tempfile::tempdir().unwrap();
    let reg = Reg { cwd: dir.path().join("work"), root: s(&dir.path().join("registry")).to_string(), env: vec![] };
    round_trip(&reg);
    let f = fixture();
    let (test, labels) = (f.data.join("test.csv"), f.data.join("labels.csv"));
    let versions: serde_json::Value = serde_json::from_str(&ok(&reg.run(&["--json", "list", "ae"]))).unwrap();
    let v1 = versions[0]["card"]["version"].as_str().unwrap().to_string();
    let v2 = versions[1]["card"]["version"].as_str().unwrap().to_string();

    // --dry-run decides without moving the alias.
    let out = ok(&reg.run(&["promote", &format!("ae:{v2}"), "--data", s(&test), "--labels", s(&labels), "--dry-run"]));
    assert!(out.contains("dry run"), "{out}");
    assert_eq!(reg.champion(), v1);

    // Errors exit 2: labels of the wrong length (both lengths named), no registry.
    let short = reg.cwd.join("short_labels.csv");
    std::fs::write(&short, "label\n0\n1\n").unwrap();
    let e = reg.run(&["promote", &format!("ae:{v2}"), "--data", s(&test), "--labels", s(&short)]);
    assert_eq!(code(&e), 2);
    let err = String::from_utf8_lossy(&e.stderr);
    let rows = std::fs::read_to_string(&test).unwrap().lines().count() - 1;
    assert!(err.contains("2 label row(s)") && err.contains(&format!("{rows} row(s)")), "{err}");
    let e = models_cmd(&reg.cwd, &["models", "list"], &[]);
    assert_eq!(code(&e), 2);
    assert!(String::from_utf8_lossy(&e.stderr).contains("MODEL_REGISTRY"));

    // gc keeps the aliased version and the newest one.
    let gc: serde_json::Value = serde_json::from_str(&ok(&reg.run(&["--json", "gc", "ae", "--keep", "1"]))).unwrap();
    assert_eq!(gc["versions"], serde_json::json!([v2]));

    // Other features than the champion's: an error naming both lists, unless allowed.
    let narrow_csv = reg.cwd.join("narrow.csv");
    let text = std::fs::read_to_string(f.data.join("train.csv")).unwrap();
    let narrow: String = text.lines().take(800).map(|l| l.rsplit_once(',').unwrap().0.to_string() + "\n").collect();
    std::fs::write(&narrow_csv, narrow).unwrap();
    let params = reg.cwd.join("narrow.yaml");
    std::fs::write(&params, "train:\n  epochs: 1\n").unwrap();
    let model = reg.cwd.join("narrow");
    let plots = reg.cwd.join("plots");
    ok(&models_cmd(
        &reg.cwd,
        &["train", "--data", s(&narrow_csv), "--out", s(&model), "--params", s(&params), "--plots", s(&plots)],
        &[],
    ));
    let v4 = format!("ae:{}", reg.publish(&model));
    let e = reg.run(&["promote", &v4, "--data", s(&test)]);
    assert_eq!(code(&e), 2);
    let err = String::from_utf8_lossy(&e.stderr);
    assert!(
        err.contains("\"vibration\"]") && err.contains("\"voltage\"]") && err.contains("--allow-schema-change"),
        "{err}"
    );
    let allowed = reg.run(&["promote", &v4, "--data", s(&test), "--allow-schema-change", "--dry-run"]);
    assert!(matches!(code(&allowed), 0 | 1), "{}", String::from_utf8_lossy(&allowed.stderr));
}

#[test]
fn s3_registry_round_trip_and_gate() {
    let server = s3_test_server::S3Server::start(&["models"]);
    let dir = tempfile::tempdir().unwrap();
    let env = vec![
        ("AWS_ENDPOINT_URL", server.endpoint.as_str()),
        ("AWS_ACCESS_KEY_ID", s3_test_server::ACCESS_KEY),
        ("AWS_SECRET_ACCESS_KEY", s3_test_server::SECRET_KEY),
        ("AWS_REGION", "us-east-1"),
    ];
    let reg = Reg { cwd: dir.path().to_path_buf(), root: "s3://models/registry".into(), env };
    round_trip(&reg);
    assert!(server.root.path().join("models/registry/ae/aliases/champion.json").is_file());
}
