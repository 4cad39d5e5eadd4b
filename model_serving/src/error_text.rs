//! An error and its causes as one line, `message: cause: root cause` (what anyhow's `{:#}`
//! prints), for text that leaves the process: an HTTP error message, an engine task's
//! `error_message`, a log field. Every error type says only its own part, so each cause
//! appears once. URL credentials in it (an engine or endpoint URL with `user:password@`) are
//! hidden, as the text leaves the process.

use std::error::Error;

pub fn chain(e: &(dyn Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    object_storage::redact_urls(&text)
}

#[cfg(test)]
mod tests {
    #[test]
    fn each_cause_follows_its_error() {
        let io = std::io::Error::other("connection reset by peer");
        let e = object_storage::StorageError::Io { op: "reading", path: "/tmp/in.csv".into(), source: io };
        assert_eq!(super::chain(&e), "reading /tmp/in.csv: connection reset by peer");
    }
}
