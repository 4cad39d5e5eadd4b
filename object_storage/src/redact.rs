//! Hiding the credentials a URL may carry (`http://user:password@host`) in text shown to
//! people: error messages and log lines that echo a URL someone configured (an endpoint, an
//! engine, a remote). The one helper for it, so the service, the pipeline and the CLI hide
//! them alike.

/// `text` with the user information of every `scheme://user:password@host` in it replaced by
/// `***` (`http://***@host`); the rest, host and path included, is kept so the message still
/// says which server it is about. Works on any text: one URL, a JSON list of them, a whole
/// error message or a `Debug` dump.
pub fn redact_urls(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("://") {
        let (head, tail) = rest.split_at(i + 3);
        out.push_str(head);
        // The authority ends where a path, query or fragment begins, or where the URL itself
        // ends inside quotes or text. The user information's own characters never end it
        // (`:`, `,`, `;`, `!` ... are allowed there), so nothing of a password is left out.
        let end = tail
            .find(|c: char| matches!(c, '/' | '?' | '#' | '"' | '\'' | '`' | '\\' | '<' | '>') || c.is_whitespace())
            .unwrap_or(tail.len());
        match tail[..end].rfind('@') {
            Some(at) => {
                out.push_str("***");
                rest = &tail[at..];
            }
            None => rest = tail,
        }
    }
    out.push_str(rest);
    out
}

/// One configured value that should be a URL, for echoing it in an error: as [`redact_urls`],
/// and when it lacks its `scheme://` (the very mistake being reported, perhaps), whatever comes
/// before an `@` in its host part is hidden too (`user:pw@host:9000` → `***@host:9000`).
pub fn redact_url(value: &str) -> String {
    if value.contains("://") {
        return redact_urls(value);
    }
    let host_end = value.find('/').unwrap_or(value.len());
    match value[..host_end].rfind('@') {
        Some(at) => format!("***{}", &value[at..]),
        None => value.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::{redact_url, redact_urls};

    #[test]
    fn a_value_without_its_scheme_is_redacted_too() {
        assert_eq!(redact_url("minio:pw@127.0.0.1:9/x@y"), "***@127.0.0.1:9/x@y");
        assert_eq!(redact_url("ftp://u:pw@host"), "ftp://***@host");
        assert_eq!(redact_url("90a"), "90a");
        assert_eq!(redact_url("[\"http://u:pw@e\"]"), "[\"http://***@e\"]");
    }

    #[test]
    fn user_information_is_hidden_and_the_rest_kept() {
        for (text, expected) in [
            ("http://user:pass@minio:9000", "http://***@minio:9000"),
            ("https://key@host/path?q=1", "https://***@host/path?q=1"),
            ("s3://AKIA:s3cr3t@bucket/prefix", "s3://***@bucket/prefix"),
            ("http://u:p,@x;!@host:1/a@b", "http://***@host:1/a@b"),
            ("[\"http://a:b@e1:8080\",\"http://e2\"]", "[\"http://***@e1:8080\",\"http://e2\"]"),
            (
                "error sending request for url (http://u:pw@h:9/x): refused",
                "error sending request for url (http://***@h:9/x): refused",
            ),
            ("endpoint_url: Some(\"http://u:pw@h\")", "endpoint_url: Some(\"http://***@h\")"),
            ("no url here; user@host.example", "no url here; user@host.example"),
            ("http://host:9000/a://b@c", "http://host:9000/a://***@c"),
            ("", ""),
        ] {
            assert_eq!(redact_urls(text), expected, "{text:?}");
        }
    }
}
