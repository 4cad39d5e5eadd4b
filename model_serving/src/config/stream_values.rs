//! Checking the streaming settings (MQTT_*): the broker URL, topic filters and templates, the
//! partition and the password. Failures name the variable and say what was expected, as in
//! `values`.

use super::values::{ConfigError, Value};

/// MQTT_URL: the broker, `mqtt://host[:port]` or, over TLS, `mqtts://host[:port]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MqttUrl {
    pub host: String,
    pub port: u16,
    /// `mqtts://`: TLS, the broker's certificate checked against the trusted roots.
    pub tls: bool,
}

impl std::fmt::Display for MqttUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let scheme = if self.tls { "mqtts" } else { "mqtt" };
        if self.host.contains(':') {
            write!(f, "{scheme}://[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{scheme}://{}:{}", self.host, self.port)
        }
    }
}

fn invalid(v: &Value, expected: &str) -> ConfigError {
    ConfigError::Invalid { variable: v.variable, value: v.text.to_string(), expected: expected.to_string() }
}

pub fn mqtt_url(v: &Value) -> Result<Option<MqttUrl>, ConfigError> {
    const EXPECTED: &str = "mqtt://HOST[:PORT] or mqtts://HOST[:PORT] (TLS), e.g. mqtt://broker:1883";
    let text = v.trimmed();
    if text.is_empty() {
        return Ok(None);
    }
    let (scheme, rest) = text.split_once("://").ok_or_else(|| invalid(v, EXPECTED))?;
    // The usual default ports: 1883 in the clear, 8883 over TLS.
    let (tls, default_port) = match scheme.to_ascii_lowercase().as_str() {
        "mqtt" | "tcp" => (false, 1883),
        "mqtts" | "ssl" => (true, 8883),
        _ => return Err(invalid(v, EXPECTED)),
    };
    if rest.contains('@') {
        // Not repeated: the value holds a password.
        return Err(ConfigError::Invalid {
            variable: v.variable,
            value: "<redacted>".into(),
            expected: "no credentials in the URL; set MQTT_USERNAME and MQTT_PASSWORD".into(),
        });
    }
    let authority = rest.strip_suffix('/').unwrap_or(rest);
    if authority.contains(['/', '?', '#']) {
        return Err(invalid(v, "a broker address without a path or query, e.g. mqtt://broker:1883"));
    }
    let (host, port) = if let Some(inner) = authority.strip_prefix('[') {
        // [IPv6]:port
        let (host, after) = inner.split_once(']').ok_or_else(|| invalid(v, EXPECTED))?;
        (host, after.strip_prefix(':'))
    } else {
        match authority.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        }
    };
    if host.is_empty() {
        return Err(invalid(v, EXPECTED));
    }
    let port = match port {
        None => default_port,
        Some(p) => {
            p.parse::<u16>().ok().filter(|p| *p > 0).ok_or_else(|| invalid(v, "a port number from 1 to 65535"))?
        }
    };
    Ok(Some(MqttUrl { host: host.to_string(), port, tls }))
}

/// MQTT_TOPICS: comma-separated MQTT topic filters (`+` a whole level, `#` the last one).
pub fn topic_filters(v: &Value) -> Result<Vec<String>, ConfigError> {
    let filters: Vec<String> = v.text.split(',').map(|t| t.trim().to_string()).filter(|t| !t.is_empty()).collect();
    let valid = |f: &str| {
        let levels: Vec<&str> = f.split('/').collect();
        levels.iter().enumerate().all(|(i, level)| match *level {
            "+" => true,
            "#" => i == levels.len() - 1,
            l => !l.contains(['+', '#']),
        })
    };
    if filters.is_empty() || !filters.iter().all(|f| valid(f)) {
        return Err(invalid(
            v,
            "comma-separated MQTT topic filters, `+` for a whole level and `#` only as the last, e.g. sensors/+/readings",
        ));
    }
    Ok(filters)
}

/// A topic to publish to, where `{source}` stands for the source id (no wildcards).
pub fn topic_template(v: &Value) -> Result<String, ConfigError> {
    let text = v.trimmed();
    if text.is_empty() || text.contains(['+', '#']) {
        return Err(invalid(
            v,
            "an MQTT topic without wildcards, where {source} stands for the source, e.g. anomalies/{source}",
        ));
    }
    Ok(text.to_string())
}

/// [`topic_template`], or empty for none.
pub fn optional_topic_template(v: &Value) -> Result<Option<String>, ConfigError> {
    if v.trimmed().is_empty() { Ok(None) } else { topic_template(v).map(Some) }
}

/// Any text, or empty for none.
pub fn optional_text(v: &Value) -> Result<Option<String>, ConfigError> {
    let text = v.trimmed();
    Ok((!text.is_empty()).then(|| text.to_string()))
}

/// A file name, or None when empty (MQTT_CA_FILE); the file is read when streaming starts.
pub fn optional_path(v: &Value) -> Result<Option<std::path::PathBuf>, ConfigError> {
    Ok(optional_text(v)?.map(std::path::PathBuf::from))
}

/// MQTT_PASSWORD's value; its `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(pub String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

pub fn secret(v: &Value) -> Result<Option<Secret>, ConfigError> {
    Ok((!v.text.is_empty()).then(|| Secret(v.text.to_string())))
}

/// MQTT_CLIENT_ID: at most 23 characters guaranteed by every broker, so any printable id is
/// taken; empty: from the host name.
pub fn client_id(v: &Value) -> Result<String, ConfigError> {
    let text = v.trimmed();
    if !text.chars().all(|c| c.is_ascii_graphic()) {
        return Err(invalid(v, "a client id of visible ASCII characters, e.g. model-serving-0"));
    }
    if !text.is_empty() {
        return Ok(text.to_string());
    }
    // Stable across restarts of the same replica (a StatefulSet pod keeps its name), so the
    // broker keeps its session and queues what arrives while it reconnects.
    let host = std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.is_empty())
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok().map(|h| h.trim().to_string()))
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "local".into());
    Ok(format!("model-serving-{host}"))
}

/// MQTT_PARTITION: this replica owns the sources whose id hashes to `index` of `count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Partition {
    pub index: u32,
    pub count: u32,
}

impl Partition {
    /// Whether `source` is this replica's: FNV-1a of its id, modulo the count (stable across
    /// builds and platforms, so every replica agrees).
    pub fn owns(&self, source: &str) -> bool {
        let hash =
            source.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3));
        hash % u64::from(self.count) == u64::from(self.index)
    }
}

pub fn partition(v: &Value) -> Result<Partition, ConfigError> {
    const EXPECTED: &str =
        "INDEX/COUNT with 0 <= INDEX < COUNT, e.g. 0/1 (everything) or 2/3 (the third of three replicas)";
    let (index, count) = v.trimmed().split_once('/').ok_or_else(|| invalid(v, EXPECTED))?;
    let (Ok(index), Ok(count)) = (index.trim().parse::<u32>(), count.trim().parse::<u32>()) else {
        return Err(invalid(v, EXPECTED));
    };
    if count == 0 || index >= count {
        return Err(invalid(v, EXPECTED));
    }
    Ok(Partition { index, count })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_source_belongs_to_exactly_one_partition_and_they_share_the_sources() {
        let parts: Vec<Partition> = (0..3).map(|index| Partition { index, count: 3 }).collect();
        let mut sizes = [0usize; 3];
        for k in 0..3000 {
            let source = format!("sensor-{k}");
            let owners: Vec<usize> = (0..3).filter(|i| parts[*i].owns(&source)).collect();
            assert_eq!(owners.len(), 1, "{source}");
            sizes[owners[0]] += 1;
        }
        assert!(sizes.iter().all(|n| (800..1200).contains(n)), "{sizes:?}");
        assert!(Partition { index: 0, count: 1 }.owns("anything"));
    }
}
