//! Who publishes a model or moves an alias, as recorded in the registry: `MODEL_PUBLISHED_BY`
//! when set (CI and the training Job set it), otherwise `$USER@hostname`.

/// The acting identity.
pub fn actor() -> String {
    if let Some(by) = std::env::var("MODEL_PUBLISHED_BY").ok().filter(|v| !v.trim().is_empty()) {
        return by;
    }
    let user = std::env::var("USER").or_else(|_| std::env::var("USERNAME")).unwrap_or_else(|_| "unknown".into());
    let host = std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/proc/sys/kernel/hostname").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into());
    format!("{user}@{host}")
}
