//! The JSON body of `POST /compute`: any bytes through `parse_json` (rows, columns or an engine
//! task message), then what the handler does next with each shape short of scoring: rows and
//! columns become the model's frame, a task message is validated and checked against the host
//! rules. Refusals must be the documented 400 (not JSON) or 422 (wrong shape) with a message.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use model_core::Frame;
use model_serving::core_engine::HostRules;
use model_serving::core_engine::queue::validate;
use model_serving::http::compute::{Parsed, parse_json};
use model_serving::http::error::ErrorCode;
use model_serving::inference::Input;

/// The default model's features.
static FEATURES: LazyLock<Vec<String>> =
    LazyLock::new(|| ["temperature", "pressure", "flow", "current", "vibration", "voltage"].map(String::from).to_vec());

/// Host rules as a deployment with one engine and its S3 server sets them.
static RULES: LazyLock<HostRules> = LazyLock::new(|| {
    HostRules::new(
        &["http://engine:8080".to_string()],
        &["https://callback.example".to_string()],
        &["http://s3.example:9000".to_string()],
    )
});

fuzz_target!(|data: &[u8]| {
    let features: &[String] = &FEATURES;
    match parse_json(data) {
        Ok(Parsed::Score(Input::Rows(rows))) => {
            if let Err(e) = Frame::from_rows(&rows, features, "request body") {
                assert!(!e.to_string().is_empty());
            }
        }
        Ok(Parsed::Score(Input::Columns(columns))) => {
            if let Err(e) = Frame::from_columns(&columns, features, "request body") {
                assert!(!e.to_string().is_empty());
            }
        }
        Ok(Parsed::Score(Input::Grouped(input, groups))) => {
            assert!(matches!(*input, Input::Rows(_) | Input::Columns(_)), "groups beside {input:?}");
            let groups = model_core::data::Groups::from_values("machine", &groups);
            assert!(groups.names.len() <= groups.codes.len());
        }
        Ok(Parsed::Score(Input::Csv(_))) => panic!("a JSON body came back as CSV"),
        Ok(Parsed::Task(task)) => {
            if let Err(message) = validate(&task) {
                assert!(!message.is_empty());
            }
            if let Err(refusal) = RULES.check(&task) {
                assert!(!refusal.to_string().is_empty());
            }
            // The secret key never shows in what is logged of a task.
            let shown = format!("{task:?}");
            assert!(shown.contains("<redacted>"), "{shown}");
        }
        Err(e) => {
            assert!(matches!(e.code, ErrorCode::UnparsableBody | ErrorCode::InvalidInput), "{:?}", e.code);
            assert!(!e.message.is_empty());
            serde_json::to_string(&e.details).expect("error details serialize");
        }
    }
});
