//! Shared core of training and serving: CSV data -> standardised (windowed) features ->
//! dense autoencoder forward pass -> reconstruction-error scores, plus the model artifact,
//! threshold calibration, detection metrics and plots.
//!
//! It links no ML framework: training (burn, autodiff, Adam) lives in `model_creation` and
//! exports its weights into the [`artifact`] format that [`forward`] runs.
#![warn(clippy::unwrap_used, clippy::expect_used)]

pub mod arch;
pub mod artifact;
pub mod data;
pub mod drift;
pub mod error;
pub mod explain;
pub mod features;
pub mod forward;
pub mod metrics;
pub mod model_set;
pub mod plot;
pub mod score;
pub mod scoring;
pub mod set;
pub mod set_stream;
pub mod simd;
pub mod stable_hash;
pub mod threshold;

pub use arch::Architecture;
pub use artifact::{Detector, Model, ModelKind, ModelMetadata, TrainingInfo};
pub use data::{Columns, Frame};
pub use error::{ArtifactError, DataError};
pub use explain::{FeatureShare, RowExplanation, SegmentCause, segment_causes};
pub use features::{FeatureSpec, PointAggregation, Scaler, Window};
pub use model_set::{Artifact, ModelSet, SetScores};
pub use score::Scores;
pub use scoring::Scoring;
pub use threshold::{Threshold, ThresholdMethod};

/// Columns a trainer skips unless told otherwise: time stamps and label columns.
pub const DEFAULT_IGNORED_COLUMNS: [&str; 7] =
    ["timestamp", "time", "datetime", "date", "label", "anomaly", "changepoint"];
