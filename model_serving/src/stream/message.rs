//! One MQTT message of sensor readings, checked: `{"ts": ..., "values": {"feature": number, ...},
//! "source": "optional"}` or a list of them. `ts` is epoch seconds (fractions allowed) or an
//! RFC 3339 time stamp. Values are matched to the model's features by name, as `/compute`
//! matches CSV columns: every feature must be there as a finite number, other names are ignored.
//! A bad reading refuses the whole message, with an error naming the reading, field and value.

use serde_json::Value;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// One reading, its values in the model's feature order.
#[derive(Debug, Clone, PartialEq)]
pub struct Reading {
    pub source: String,
    /// Epoch seconds.
    pub ts: f64,
    pub values: Vec<f64>,
}

/// Why a message was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum MessageError {
    #[error("the message is {bytes} bytes, over MQTT_MAX_MESSAGE_BYTES ({max}); send fewer readings per message")]
    TooLarge { bytes: usize, max: usize },
    #[error(
        "the message is not JSON ({0}); send {{\"ts\": ..., \"values\": {{\"feature\": number, ...}}}} or a list of them"
    )]
    NotJson(String),
    #[error("the message is {0}; send a reading {{\"ts\": ..., \"values\": {{...}}}} or a list of them")]
    NotReadings(&'static str),
    #[error("reading {index}: {what}")]
    Reading { index: usize, what: String },
}

impl MessageError {
    fn reading(index: usize, what: impl Into<String>) -> MessageError {
        MessageError::Reading { index, what: what.into() }
    }
}

/// A source id is a topic level: not empty, no `/`, `+` or `#`, at most 128 bytes.
pub fn valid_source(source: &str) -> bool {
    !source.is_empty() && source.len() <= 128 && !source.contains(['/', '+', '#'])
}

/// The readings of `payload`, whose source is `topic_source` (the topic's `+` level) unless a
/// reading names its own.
pub fn parse(
    payload: &[u8],
    topic_source: Option<&str>,
    features: &[String],
    max_bytes: usize,
) -> Result<Vec<Reading>, MessageError> {
    if payload.len() > max_bytes {
        return Err(MessageError::TooLarge { bytes: payload.len(), max: max_bytes });
    }
    let value: Value = serde_json::from_slice(payload).map_err(|e| MessageError::NotJson(e.to_string()))?;
    let items = match value {
        Value::Array(items) if items.is_empty() => return Err(MessageError::NotReadings("an empty list")),
        Value::Array(items) => items,
        Value::Object(_) => vec![value],
        Value::Null => return Err(MessageError::NotReadings("null")),
        Value::Bool(_) => return Err(MessageError::NotReadings("a boolean")),
        Value::Number(_) => return Err(MessageError::NotReadings("a number")),
        Value::String(_) => return Err(MessageError::NotReadings("a string")),
    };
    items.iter().enumerate().map(|(index, item)| reading(index, item, topic_source, features)).collect()
}

fn reading(
    index: usize,
    item: &Value,
    topic_source: Option<&str>,
    features: &[String],
) -> Result<Reading, MessageError> {
    let Value::Object(fields) = item else {
        return Err(MessageError::reading(index, "not an object {\"ts\": ..., \"values\": {...}}"));
    };
    let source = match fields.get("source") {
        None | Some(Value::Null) => topic_source
            .map(str::to_string)
            .ok_or_else(|| MessageError::reading(index, "no \"source\", and the topic has no `+` level to name one"))?,
        Some(Value::String(s)) if valid_source(s) => s.clone(),
        Some(other) => {
            return Err(MessageError::reading(
                index,
                format!("\"source\": {other} is not a source id (a non-empty string without /, + or #)"),
            ));
        }
    };
    let ts = match fields.get("ts") {
        None => return Err(MessageError::reading(index, "no \"ts\" (epoch seconds or an RFC 3339 time stamp)")),
        Some(Value::Number(n)) => n.as_f64().filter(|t| t.is_finite()),
        Some(Value::String(s)) => OffsetDateTime::parse(s, &Rfc3339)
            .ok()
            .map(|t| t.unix_timestamp() as f64 + f64::from(t.nanosecond()) * 1e-9),
        Some(_) => None,
    }
    .ok_or_else(|| {
        let shown = fields.get("ts").map(Value::to_string).unwrap_or_default();
        MessageError::reading(index, format!("\"ts\": {shown} is neither epoch seconds nor an RFC 3339 time stamp"))
    })?;
    let Some(Value::Object(values)) = fields.get("values") else {
        return Err(MessageError::reading(index, "no \"values\" object {\"feature\": number, ...}"));
    };
    let values = features
        .iter()
        .map(|name| match values.get(name) {
            None => Err(MessageError::reading(
                index,
                format!("\"values\" has no {name:?} (the model's features: {})", features.join(", ")),
            )),
            Some(v) => v
                .as_f64()
                .filter(|x| x.is_finite())
                .ok_or_else(|| MessageError::reading(index, format!("\"values\".{name:?}: {v} is not a number"))),
        })
        .collect::<Result<Vec<f64>, MessageError>>()?;
    Ok(Reading { source, ts, values })
}

/// The source named by `topic` under `filter`: the level where the filter has its first `+`.
pub fn topic_source<'t>(filter: &str, topic: &'t str) -> Option<&'t str> {
    let mut topic_levels = topic.split('/');
    for level in filter.split('/') {
        let t = topic_levels.next()?;
        match level {
            "+" => return Some(t).filter(|s| valid_source(s)),
            "#" => return None,
            l if l == t => {}
            _ => return None,
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn features() -> Vec<String> {
        vec!["temperature".into(), "pressure".into()]
    }

    fn parse_text(text: &str) -> Result<Vec<Reading>, MessageError> {
        parse(text.as_bytes(), Some("pump-1"), &features(), 1024)
    }

    #[test]
    fn a_reading_or_a_list_with_epoch_or_rfc3339_time_stamps_in_the_models_order() {
        let one = parse_text(r#"{"ts": 1700000000.5, "values": {"pressure": 2, "temperature": 20.5, "extra": "x"}}"#);
        assert_eq!(one, Ok(vec![Reading { source: "pump-1".into(), ts: 1_700_000_000.5, values: vec![20.5, 2.0] }]));
        let list = parse_text(
            r#"[{"ts": "2023-11-14T22:13:20.25Z", "values": {"temperature": 1, "pressure": 2}, "source": "pump-9"},
                {"ts": 5, "values": {"temperature": 3, "pressure": 4}}]"#,
        )
        .unwrap();
        assert_eq!(list[0].source, "pump-9");
        assert_eq!(list[0].ts, 1_700_000_000.25);
        assert_eq!((list[1].source.as_str(), list[1].ts), ("pump-1", 5.0));
    }

    #[test]
    fn bad_messages_say_which_reading_field_and_value() {
        let cases = [
            ("not json", "not JSON"),
            ("[]", "an empty list"),
            ("3", "a number"),
            (r#"{"values": {"temperature": 1, "pressure": 2}}"#, "reading 0: no \"ts\""),
            (r#"{"ts": "yesterday", "values": {"temperature": 1, "pressure": 2}}"#, "\"ts\": \"yesterday\" is neither"),
            (r#"{"ts": 1, "values": {"temperature": 1}}"#, "reading 0: \"values\" has no \"pressure\""),
            (
                r#"[{"ts": 1, "values": {"temperature": 1, "pressure": 2}}, {"ts": 2, "values": {"temperature": "hot", "pressure": 2}}]"#,
                "reading 1: \"values\".\"temperature\": \"hot\" is not a number",
            ),
            (r#"{"ts": 1, "values": {"temperature": null, "pressure": 2}}"#, "null is not a number"),
            (r#"{"ts": 1, "source": "a/b", "values": {"temperature": 1, "pressure": 2}}"#, "is not a source id"),
        ];
        for (text, expected) in cases {
            let error = parse_text(text).unwrap_err().to_string();
            assert!(error.contains(expected), "{text}: {error}");
        }
        let big = parse(&[b' '; 2000], None, &features(), 1024).unwrap_err();
        assert_eq!(big, MessageError::TooLarge { bytes: 2000, max: 1024 });
        let no_source = parse(br#"{"ts": 1, "values": {"temperature": 1, "pressure": 2}}"#, None, &features(), 1024);
        assert!(no_source.unwrap_err().to_string().contains("no \"source\""));
    }

    #[test]
    fn the_source_is_the_topics_plus_level() {
        assert_eq!(topic_source("sensors/+/readings", "sensors/pump-1/readings"), Some("pump-1"));
        assert_eq!(topic_source("sensors/0/+/readings", "sensors/0/pump-1/readings"), Some("pump-1"));
        assert_eq!(topic_source("sensors/+/readings", "other/pump-1/readings"), None);
        assert_eq!(topic_source("sensors/#", "sensors/pump-1/readings"), None);
    }
}
