//! Where things live under the registry root, what names may be, and how versions are made.

use crate::error::RegistryError;

/// The card of a version, written last: a version without it is invisible.
pub const CARD_FILE: &str = "card.json";

/// Checks a model name, alias or version (`kind` says which, for the message): non-empty, and
/// none of `@` `:` (reference syntax), `/` `\` (key structure), whitespace or control
/// characters, and not `.` or `..`.
pub fn check_name(kind: &'static str, value: &str) -> Result<(), RegistryError> {
    let bad = |reason| Err(RegistryError::InvalidName { kind, value: value.to_string(), reason });
    if value.is_empty() {
        return bad("it is empty");
    }
    if value == "." || value == ".." {
        return bad("'.' and '..' are not names");
    }
    if value.chars().any(|c| matches!(c, '@' | ':' | '/' | '\\')) {
        return bad("it may not contain '@', ':', '/' or '\\'");
    }
    if value.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return bad("it may not contain spaces or control characters");
    }
    Ok(())
}

pub(crate) fn versions_prefix(name: &str) -> String {
    format!("{name}/versions/")
}

pub(crate) fn version_prefix(name: &str, version: &str) -> String {
    format!("{name}/versions/{version}/")
}

pub(crate) fn file_key(name: &str, version: &str, file: &str) -> String {
    format!("{name}/versions/{version}/{file}")
}

pub(crate) fn card_key(name: &str, version: &str) -> String {
    file_key(name, version, CARD_FILE)
}

pub(crate) fn aliases_prefix(name: &str) -> String {
    format!("{name}/aliases/")
}

pub(crate) fn alias_key(name: &str, alias: &str) -> String {
    format!("{name}/aliases/{alias}.json")
}

/// `(name, version)` when `key` is a version's card, `<name>/versions/<version>/card.json`.
pub(crate) fn parse_card_key(key: &str) -> Option<(&str, &str)> {
    let mut parts = key.split('/');
    match (parts.next(), parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(name), Some("versions"), Some(version), Some(CARD_FILE), None) => Some((name, version)),
        _ => None,
    }
}

/// The alias an alias key names, `<name>/aliases/<alias>.json`.
pub(crate) fn parse_alias_key<'k>(name: &str, key: &'k str) -> Option<&'k str> {
    key.strip_prefix(name)?.strip_prefix("/aliases/")?.strip_suffix(".json").filter(|a| !a.contains('/'))
}

/// A new version: the UTC time to the millisecond plus the first 8 hex digits of the weights
/// md5, e.g. `20261202T135012345Z-1a2b3c4d`. Sorting as strings is creation order; two
/// publishers collide only with the same weights in the same millisecond.
pub(crate) fn new_version(now: time::OffsetDateTime, weights_md5: &str) -> String {
    let t = now.to_offset(time::UtcOffset::UTC);
    let hash: String = weights_md5.chars().take(8).collect();
    format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}{:03}Z-{hash}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.millisecond()
    )
}

/// RFC 3339 UTC with milliseconds, e.g. `2026-12-02T13:50:12.345Z`.
pub(crate) fn timestamp(now: time::OffsetDateTime) -> String {
    let t = now.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.millisecond()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_sort_in_creation_order() {
        let a = time::macros::datetime!(2026-12-02 09:59:59.999 UTC);
        let b = time::macros::datetime!(2026-12-02 10:00:00.000 UTC);
        let (va, vb) = (new_version(a, "ffffffffff"), new_version(b, "0000000000"));
        assert_eq!(va, "20261202T095959999Z-ffffffff");
        assert!(va < vb);
        assert_eq!(timestamp(b), "2026-12-02T10:00:00.000Z");
    }

    #[test]
    fn names_reject_reference_syntax() {
        for bad in ["", "a@b", "a:b", "a/b", "..", "a b"] {
            assert!(check_name("model name", bad).is_err(), "{bad:?}");
        }
        check_name("model name", "sensor-ae_1.2").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(parse_card_key("m/versions/v1/card.json"), Some(("m", "v1")));
        assert_eq!(parse_card_key("m/versions/v1/metadata.json"), None);
        assert_eq!(parse_alias_key("m", "m/aliases/champion.json"), Some("champion"));
    }
}
