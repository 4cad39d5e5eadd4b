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
    let png = model_core::plot::anomalies_png(&["x".into()], &[col], &scores, 1.0, &flags).unwrap();
    let (w, h, pixels) = decode(&png);
    assert_eq!(w, 1200);
    assert!(h > 300);
    assert!(pixels.chunks(3).filter(|p| p[0] > 200 && p[1] < 60 && p[2] < 60).count() > 50);
}
