//! PNG plots drawn with plotters' pure-Rust bitmap backend and a font shipped in the crate, so
//! no fontconfig or system font is needed (containers built FROM scratch can draw them too).

use std::sync::Once;

use plotters::prelude::*;

use crate::explain::SegmentCause;

const FONT: &[u8] = include_bytes!("../assets/DejaVuSans.ttf");
const FAMILY: &str = "sans-serif";
const WIDTH: u32 = 1200;
/// Marks the feature that explains an anomalous segment most.
const CAUSE: RGBColor = RGBColor(230, 120, 0);

#[derive(Debug, thiserror::Error)]
pub enum PlotError {
    #[error("drawing the plot failed: {0}")]
    Draw(String),
}

fn draw_err<E: std::fmt::Debug>(e: E) -> PlotError {
    PlotError::Draw(format!("{e:?}"))
}

fn register_font() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // The font is compiled in; it only fails if the bundled file is corrupt, which a test catches.
        let _ = plotters::style::register_font(FAMILY, FontStyle::Normal, FONT);
    });
}

/// Training and validation loss per epoch.
pub fn training_loss_png(train: &[f64], val: &[f64]) -> Result<Vec<u8>, PlotError> {
    register_font();
    let (w, h) = (WIDTH, 600);
    let mut buf = vec![0u8; (w * h * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut buf, (w, h)).into_drawing_area();
        root.fill(&WHITE).map_err(draw_err)?;
        let n = train.len().max(val.len()).max(2);
        let all = train.iter().chain(val).copied().filter(|v| v.is_finite());
        let (lo, hi) = min_max(all);
        let mut chart = ChartBuilder::on(&root)
            .caption("Training loss (MSE, standardised units)", (FAMILY, 24))
            .margin(15)
            .x_label_area_size(40)
            .y_label_area_size(70)
            .build_cartesian_2d(1f64..n as f64, lo..hi)
            .map_err(draw_err)?;
        chart.configure_mesh().x_desc("epoch").y_desc("loss").label_style((FAMILY, 14)).draw().map_err(draw_err)?;
        for (series, color, label) in [(train, BLUE, "train"), (val, RED, "validation")] {
            if series.is_empty() {
                continue;
            }
            chart
                .draw_series(LineSeries::new(
                    series.iter().enumerate().map(|(i, v)| ((i + 1) as f64, *v)),
                    color.stroke_width(2),
                ))
                .map_err(draw_err)?
                .label(label)
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2)));
        }
        chart
            .configure_series_labels()
            .label_font((FAMILY, 14))
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()
            .map_err(draw_err)?;
        root.present().map_err(draw_err)?;
    }
    encode_png(&buf, w, h)
}

/// A second detector's scores, drawn in a panel of their own under the model's.
#[derive(Debug, Clone, Copy)]
pub struct BaselinePanel<'a> {
    /// What it is, e.g. "Isolation Forest baseline".
    pub name: &'a str,
    pub scores: &'a [f32],
    pub threshold: f64,
}

/// The series (one panel per feature, at most `MAX_PANELS`) with anomalous rows marked in red,
/// and the score against the threshold underneath, as the original service drew it.
pub fn anomalies_png(
    features: &[String],
    columns: &[Vec<f64>],
    scores: &[f32],
    threshold: f64,
    anomalous: &[bool],
    causes: &[SegmentCause],
) -> Result<Vec<u8>, PlotError> {
    anomalies_with_baseline_png(features, columns, scores, threshold, anomalous, causes, None)
}

/// [`anomalies_png`] with a baseline's scores and threshold in a last panel, so the two
/// detectors can be compared row by row.
pub fn anomalies_with_baseline_png(
    features: &[String],
    columns: &[Vec<f64>],
    scores: &[f32],
    threshold: f64,
    anomalous: &[bool],
    causes: &[SegmentCause],
    baseline: Option<BaselinePanel<'_>>,
) -> Result<Vec<u8>, PlotError> {
    // Labels in the score panel for the segments with the highest peaks only: more would overlap.
    const MAX_LABELS: usize = 12;
    const MAX_PANELS: usize = 8;
    register_font();
    let panels = columns.len().min(MAX_PANELS);
    let score_panels = 1 + usize::from(baseline.is_some());
    let panel_h = 160u32;
    let (w, h) = (WIDTH, 60 + panel_h * (panels + score_panels) as u32);
    let mut buf = vec![0u8; (w * h * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut buf, (w, h)).into_drawing_area();
        root.fill(&WHITE).map_err(draw_err)?;
        let root = root
            .titled("Anomalies (red) by reconstruction error; orange: the feature explaining each most", (FAMILY, 24))
            .map_err(draw_err)?;
        let areas = root.split_evenly((panels + score_panels, 1));
        let n = scores.len().max(2);
        for (k, area) in areas.iter().enumerate().take(panels) {
            let values = &columns[k];
            let (lo, hi) = min_max(values.iter().copied());
            let mut chart = ChartBuilder::on(area)
                .margin(6)
                .x_label_area_size(20)
                .y_label_area_size(70)
                .caption(&features[k], (FAMILY, 14))
                .build_cartesian_2d(0f64..(n - 1) as f64, lo..hi)
                .map_err(draw_err)?;
            chart.configure_mesh().label_style((FAMILY, 11)).draw().map_err(draw_err)?;
            // The segments this feature explains most, as orange bands behind the line.
            chart
                .draw_series(causes.iter().filter(|c| c.feature == k).map(|c| {
                    Rectangle::new([(c.start as f64 - 0.5, lo), (c.end as f64 - 0.5, hi)], CAUSE.mix(0.35).filled())
                }))
                .map_err(draw_err)?;
            chart
                .draw_series(LineSeries::new(values.iter().enumerate().map(|(i, v)| (i as f64, *v)), BLUE))
                .map_err(draw_err)?;
            chart
                .draw_series(
                    values
                        .iter()
                        .enumerate()
                        .filter(|(i, _)| anomalous.get(*i).copied().unwrap_or(false))
                        .map(|(i, v)| Circle::new((i as f64, *v), 2, RED.filled())),
                )
                .map_err(draw_err)?;
        }
        let model_panel = BaselinePanel { name: "score (red line: threshold)", scores, threshold };
        let baseline_caption = baseline.map(|b| format!("{} score (red line: its threshold)", b.name));
        let score_rows = std::iter::once((model_panel, "score (red line: threshold)".to_string()))
            .chain(baseline.zip(baseline_caption));
        for (k, (panel, caption)) in score_rows.enumerate() {
            let area = &areas[panels + k];
            // A model set's groups have thresholds of their own: no one line (NaN) is drawn.
            let line = Some(panel.threshold).filter(|t| t.is_finite());
            let (lo, hi) = min_max(panel.scores.iter().map(|s| f64::from(*s)).chain(line));
            let mut chart = ChartBuilder::on(area)
                .margin(6)
                .x_label_area_size(30)
                .y_label_area_size(70)
                .caption(caption, (FAMILY, 14))
                .build_cartesian_2d(0f64..(n - 1) as f64, lo..hi)
                .map_err(draw_err)?;
            chart.configure_mesh().x_desc("row").label_style((FAMILY, 11)).draw().map_err(draw_err)?;
            chart
                .draw_series(LineSeries::new(
                    panel.scores.iter().enumerate().map(|(i, v)| (i as f64, f64::from(*v))),
                    BLACK,
                ))
                .map_err(draw_err)?;
            if let Some(t) = line {
                chart
                    .draw_series(LineSeries::new(vec![(0.0, t), ((n - 1) as f64, t)], RED.stroke_width(2)))
                    .map_err(draw_err)?;
            }
            if k == 0 {
                // The model's panel names each segment's leading feature at its peak.
                let peak = |c: &SegmentCause| {
                    panel
                        .scores
                        .get(c.start..c.end.min(panel.scores.len()))
                        .map_or(0.0, |s| s.iter().fold(f64::NEG_INFINITY, |m, v| m.max(f64::from(*v))))
                };
                let mut labelled: Vec<(&SegmentCause, f64)> = causes.iter().map(|c| (c, peak(c))).collect();
                labelled.sort_by(|a, b| b.1.total_cmp(&a.1));
                labelled.truncate(MAX_LABELS);
                chart
                    .draw_series(labelled.iter().filter(|(_, y)| y.is_finite()).map(|(c, y)| {
                        let name = features.get(c.feature).map_or("?", String::as_str);
                        Text::new(name.to_string(), (c.start as f64, y.min(hi)), (FAMILY, 11).into_font().color(&CAUSE))
                    }))
                    .map_err(draw_err)?;
            }
        }
        root.present().map_err(draw_err)?;
    }
    encode_png(&buf, w, h)
}

fn min_max(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for v in values.filter(|v| v.is_finite()) {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    if !lo.is_finite() {
        return (0.0, 1.0);
    }
    let pad = ((hi - lo) * 0.05).max(1e-9);
    (lo - pad, hi + pad)
}

fn encode_png(rgb: &[u8], w: u32, h: u32) -> Result<Vec<u8>, PlotError> {
    let mut out = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut out, w, h);
        enc.set_color(png::ColorType::Rgb);
        enc.set_depth(png::BitDepth::Eight);
        let mut writer = enc.write_header().map_err(draw_err)?;
        writer.write_image_data(rgb).map_err(draw_err)?;
    }
    Ok(out)
}
