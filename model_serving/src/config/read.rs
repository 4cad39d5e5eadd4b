//! Reading the settings' text: CONFIG_FILE (TOML, YAML or JSON), then the variables given,
//! through the `config` crate. Keys match the variable names in any case, in the file as in the
//! environment; a number or a list in a file reads as the text a variable would hold.

use std::collections::HashMap;
use std::fmt;

use config::{Map, Source};
use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::{Deserialize, de::DeserializeOwned};

use super::values::ConfigError;

/// A setting's value as written: text from the environment, or a scalar or a list (as the JSON
/// text ENGINE_URLS takes) from CONFIG_FILE.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Raw(pub String);

impl<'de> Deserialize<'de> for Raw {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Raw, D::Error> {
        d.deserialize_any(RawVisitor)
    }
}

struct RawVisitor;

impl<'de> Visitor<'de> for RawVisitor {
    type Value = Raw;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a text, a number, a boolean or a list of texts")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Raw, E> {
        Ok(Raw(v.to_string()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Raw, E> {
        Ok(Raw(v))
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Raw, E> {
        Ok(Raw(v.to_string()))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Raw, E> {
        Ok(Raw(v.to_string()))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Raw, E> {
        Ok(Raw(v.to_string()))
    }

    fn visit_i128<E: de::Error>(self, v: i128) -> Result<Raw, E> {
        Ok(Raw(v.to_string()))
    }

    fn visit_u128<E: de::Error>(self, v: u128) -> Result<Raw, E> {
        Ok(Raw(v.to_string()))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Raw, E> {
        Ok(Raw(v.to_string()))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Raw, A::Error> {
        let mut items = Vec::new();
        while let Some(Raw(item)) = seq.next_element()? {
            items.push(item);
        }
        serde_json::to_string(&items).map(Raw).map_err(de::Error::custom)
    }
}

/// A file source with its top-level keys in upper case, so `service_port = 7000` in a file
/// means what `SERVICE_PORT=7000` in the environment does.
#[derive(Debug, Clone)]
struct UppercaseKeys<S>(S);

impl<S: Source + Clone + Send + Sync + 'static> Source for UppercaseKeys<S> {
    fn clone_into_box(&self) -> Box<dyn Source + Send + Sync> {
        Box::new(self.clone())
    }

    fn collect(&self) -> Result<Map<String, config::Value>, config::ConfigError> {
        Ok(self.0.collect()?.into_iter().map(|(k, v)| (k.to_ascii_uppercase(), v)).collect())
    }
}

/// The variables given (the process environment, or a test's map), keys in upper case, text
/// values; an empty value counts as not set.
#[derive(Debug, Clone)]
struct Variables(Map<String, String>);

impl Source for Variables {
    fn clone_into_box(&self) -> Box<dyn Source + Send + Sync> {
        Box::new(self.clone())
    }

    fn collect(&self) -> Result<Map<String, config::Value>, config::ConfigError> {
        let origin = "the environment".to_string();
        Ok(self
            .0
            .iter()
            .filter(|(_, v)| !v.is_empty())
            .map(|(k, v)| (k.to_ascii_uppercase(), config::Value::new(Some(&origin), v.as_str())))
            .collect())
    }
}

/// What was read: the settings struct `T` (fields named as the variables) and the whole map,
/// for other keys (the AWS variables).
pub struct Read<T> {
    pub settings: T,
    pub all: config::Config,
}

impl<T> Read<T> {
    /// Another key's text (any case), e.g. AWS_SECRET_ACCESS_KEY for MODEL_URI.
    pub fn get(&self, name: &str) -> Option<String> {
        self.all.get::<Raw>(&name.to_ascii_uppercase()).ok().map(|Raw(v)| v)
    }
}

/// Reads `T` from the file `CONFIG_FILE` among `vars` names (if any), with `vars` over it. Every
/// key of the file must be one of `known` (in any case): a misspelt key would otherwise be
/// dropped without a word and its setting keep its default. The environment is not checked
/// (it holds every other program's variables too).
pub fn read<T: DeserializeOwned>(
    vars: &HashMap<String, String>,
    known: &[&'static str],
) -> Result<Read<T>, ConfigError> {
    let file = vars.iter().find(|(k, _)| k.eq_ignore_ascii_case("CONFIG_FILE")).map(|(_, v)| v.clone());
    let failed = |source| ConfigError::File { path: file.clone().unwrap_or_default(), source };
    let mut builder = config::Config::builder();
    if let Some(path) = &file {
        if !std::path::Path::new(path).is_file() {
            return Err(ConfigError::NoFile { path: path.clone() });
        }
        let source = config::File::with_name(path).required(true);
        let mut keys: Vec<String> = source.collect().map_err(failed)?.into_keys().collect();
        keys.sort();
        if let Some(key) = keys.into_iter().find(|k| !known.iter().any(|n| n.eq_ignore_ascii_case(k))) {
            return Err(unknown_key(path, key, known));
        }
        builder = builder.add_source(UppercaseKeys(source));
    }
    builder = builder.add_source(Variables(vars.iter().map(|(k, v)| (k.clone(), v.clone())).collect()));
    let all = builder.build().map_err(failed)?;
    let settings = all.clone().try_deserialize::<T>().map_err(failed)?;
    Ok(Read { settings, all })
}

/// The error for a key of the file that names no setting, with the closest name when one is a
/// likely misspelling of it (at most a third of its letters different).
fn unknown_key(path: &str, key: String, known: &[&'static str]) -> ConfigError {
    let upper = key.to_ascii_uppercase();
    let closest = known.iter().map(|name| (edit_distance(&upper, name), *name)).min();
    let suggestion = closest.filter(|(distance, _)| *distance * 3 <= upper.len().max(3)).map(|(_, name)| name);
    ConfigError::UnknownKey { path: path.to_string(), key, suggestion, known: known.join(", ") }
}

/// Levenshtein distance (insertions, deletions, substitutions of one character each): enough
/// for a handful of short names, so no crate for it.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut current = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(ca != *cb);
            current[j + 1] = substitution.min(previous[j + 1] + 1).min(current[j] + 1);
        }
        previous = current;
    }
    previous[b.len()]
}
