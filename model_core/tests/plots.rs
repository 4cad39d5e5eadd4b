//! Plots render with the bundled font into valid PNGs of the documented size.

fn decode(png_bytes: &[u8]) -> (u32, u32, Vec<u8>) {
    let decoder = png::Decoder::new(std::io::Cursor::new(png_bytes));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).unwrap();
    (info.width, info.height, buf)
}

#[test]
fn training_loss_plot_is_a_png_with_text_and_lines() {
    let png = model_core::plot::training_loss_png(&[1.0, 0.5, 0.3, 0.25], &[1.1, 0.6, 0.4, 0.41]).unwrap();
    let (w, h, pixels) = decode(&png);
    assert_eq!((w, h), (1200, 600));
    // Not blank: the lines and the caption drew non-white pixels, some of them blue and red.
    let px: Vec<&[u8]> = pixels.chunks(3).collect();
    assert!(px.iter().any(|p| p[2] > 200 && p[0] < 60), "no blue train line");
    assert!(px.iter().any(|p| p[0] > 200 && p[1] < 60 && p[2] < 60), "no red validation line");
}

#[test]
fn anomaly_plot_marks_anomalies_in_red() {
    let n = 200;
    let col: Vec<f64> = (0..n).map(|i| (i as f64 / 10.0).sin()).collect();
    let scores: Vec<f32> = (0..n).map(|i| if (100..110).contains(&i) { 5.0 } else { 0.1 }).collect();
    let flags: Vec<bool> = scores.iter().map(|s| *s > 1.0).collect();
    let png = model_core::plot::anomalies_png(&["x".into()], &[col], &scores, 1.0, &flags, &[]).unwrap();
    let (w, h, pixels) = decode(&png);
    assert_eq!(w, 1200);
    assert!(h > 300);
    assert!(pixels.chunks(3).filter(|p| p[0] > 200 && p[1] < 60 && p[2] < 60).count() > 50);
}

#[test]
fn the_feature_explaining_a_segment_is_marked_in_orange_in_its_own_panel() {
    use model_core::{FeatureShare, RowExplanation, segment_causes};
    let n = 200;
    let a: Vec<f64> = (0..n).map(|i| (i as f64 / 10.0).sin()).collect();
    let b: Vec<f64> = (0..n).map(|i| if (100..110).contains(&i) { 4.0 } else { (i as f64 / 7.0).cos() }).collect();
    let scores: Vec<f32> = (0..n).map(|i| if (100..110).contains(&i) { 5.0 } else { 0.1 }).collect();
    let flags: Vec<bool> = scores.iter().map(|s| *s > 1.0).collect();
    let share = |feature, share| FeatureShare { feature, share, observed: 0.0, reconstructed: 0.0 };
    let explained: Vec<RowExplanation> =
        (100..110).map(|row| RowExplanation { row, features: vec![share(1, 4.5), share(0, 0.5)] }).collect();
    let causes = segment_causes(&explained);
    assert_eq!(causes.len(), 1);
    assert_eq!((causes[0].start, causes[0].end, causes[0].feature), (100, 110, 1));
    let orange = |png: &[u8]| -> Vec<usize> {
        let (w, _, pixels) = decode(png);
        pixels
            .chunks(3)
            .enumerate()
            .filter(|(_, p)| p[0] > 200 && (120..200).contains(&p[1]) && p[2] < 150)
            .map(|(i, _)| i / w as usize)
            .collect()
    };
    let columns = [a, b];
    let names = ["a".to_string(), "b".to_string()];
    let plain = model_core::plot::anomalies_png(&names, &columns, &scores, 1.0, &flags, &[]).unwrap();
    assert!(orange(&plain).is_empty(), "no orange without causes");
    let marked = model_core::plot::anomalies_png(&names, &columns, &scores, 1.0, &flags, &causes).unwrap();
    let rows = orange(&marked);
    assert!(rows.len() > 100, "the band is drawn");
    // Panels are stacked: feature a, feature b, the score. The band sits in b's panel, the label
    // in the score panel; nothing orange in a's panel (the upper third below the title).
    let (_, h, _) = decode(&marked);
    assert!(rows.iter().all(|&y| y as u32 > h / 3), "orange in the first feature's panel");
}
