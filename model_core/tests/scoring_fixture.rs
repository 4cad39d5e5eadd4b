//! Models written by an earlier build still load and score the same: each fixture under
//! `tests/fixtures/scoring/` holds a model, an input CSV and the scores that build wrote
//! (see the README there). Later changes to scoring or to the model format must keep this
//! passing, or bump the format version and add fixtures of the new one.

use std::path::{Path, PathBuf};

use model_core::data::{Columns, read_csv_file};
use model_core::{Model, Scores};

fn fixture(case: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/scoring").join(case)
}

/// `score,anomaly` rows as `model-creation score` writes them.
fn expected(dir: &Path) -> Vec<(f32, bool)> {
    let text = std::fs::read_to_string(dir.join("expected_scores.csv")).expect("expected scores");
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("score,anomaly"));
    lines
        .map(|l| {
            let (s, a) = l.split_once(',').expect("two fields");
            (s.parse().expect("a score"), a == "1")
        })
        .collect()
}

fn assert_same(case: &str, how: &str, got: &Scores, want: &[(f32, bool)]) {
    assert_eq!(got.scores.len(), want.len(), "{case} ({how}): one score per input row");
    for (row, ((score, flag), (want_score, want_flag))) in got.scores.iter().zip(got.flags()).zip(want).enumerate() {
        let tolerance = 1e-6 * want_score.abs().max(f32::MIN_POSITIVE);
        assert!(
            (score - want_score).abs() <= tolerance,
            "{case} ({how}): row {row} scores {score}, the fixture says {want_score}"
        );
        assert_eq!(flag, *want_flag, "{case} ({how}): row {row} anomaly flag");
    }
}

#[test]
fn fixture_models_load_and_reproduce_their_scores() {
    for case in ["multivariate", "univariate"] {
        let dir = fixture(case);
        let model = Model::load(&dir.join("model")).unwrap_or_else(|e| panic!("{case}: the fixture model loads: {e}"));
        let want = expected(&dir);
        assert!(want.iter().any(|(_, a)| *a), "{case}: the fixture has anomalous rows");
        assert!(want.iter().any(|(_, a)| !*a), "{case}: and normal ones");

        let input = dir.join("input.csv");
        let frame = read_csv_file(&input, Columns::Named(&model.meta.features)).expect("input");
        let scores = model.score_frame(&frame, "input.csv").expect("scores");
        assert_same(case, "file reader", &scores, &want);

        let bytes = std::fs::read(&input).expect("input");
        let (_, scores) = model.score_csv(&bytes, "input.csv").expect("scores");
        assert_same(case, "in-memory CSV, as serving reads it", &scores, &want);
    }
}
