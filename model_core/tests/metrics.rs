//! Metrics against values computed by hand (and matching scikit-learn on the same inputs).

use model_core::metrics::{average_precision, best_f1, evaluate, roc_auc};

#[test]
fn sklearn_docs_example() {
    // sklearn: roc_auc_score([0,0,1,1],[0.1,0.4,0.35,0.8]) = 0.75,
    // average_precision_score(...) = 0.8333...
    let s = [0.1, 0.4, 0.35, 0.8];
    let l = [false, false, true, true];
    assert!((roc_auc(&s, &l) - 0.75).abs() < 1e-12);
    assert!((average_precision(&s, &l) - 5.0 / 6.0).abs() < 1e-12);
    let (f1, t) = best_f1(&s, &l);
    assert!((f1 - 0.8).abs() < 1e-12);
    assert_eq!(t, 0.35);
}

#[test]
fn ties_get_average_rank() {
    assert!((roc_auc(&[0.5, 0.5], &[false, true]) - 0.5).abs() < 1e-12);
    // one positive tied with one of two negatives, above the other: (1 + 0.5) / 2
    assert!((roc_auc(&[0.2, 0.5, 0.5], &[false, false, true]) - 0.75).abs() < 1e-12);
}

#[test]
fn confusion_at_threshold() {
    let s = [0.1f32, 0.4, 0.35, 0.8];
    let l = [false, false, true, true];
    let m = evaluate(&s, &l, 0.3);
    assert_eq!(m.rows, 4);
    assert_eq!(m.positives, 2);
    assert!((m.precision - 2.0 / 3.0).abs() < 1e-9);
    assert!((m.recall - 1.0).abs() < 1e-9);
    assert!((m.f1 - 0.8).abs() < 1e-9);
    assert!((m.fpr - 0.5).abs() < 1e-9);
    assert!(m.fnr.abs() < 1e-9);
}

#[test]
fn degenerate_labels_do_not_divide_by_zero() {
    let m = evaluate(&[0.1, 0.2], &[false, false], 0.15);
    assert_eq!(m.roc_auc, 0.5);
    assert_eq!(m.pr_auc, 0.0);
    assert_eq!(m.recall, 0.0);
    assert!((m.fpr - 0.5).abs() < 1e-9);
}
