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

/// Reads `T` from the file `CONFIG_FILE` among `vars` names (if any), with `vars` over it.
pub fn read<T: DeserializeOwned>(vars: &HashMap<String, String>) -> Result<Read<T>, ConfigError> {
    let file = vars.iter().find(|(k, _)| k.eq_ignore_ascii_case("CONFIG_FILE")).map(|(_, v)| v.clone());
    let mut builder = config::Config::builder();
    if let Some(path) = &file {
        if !std::path::Path::new(path).is_file() {
            return Err(ConfigError::NoFile { path: path.clone() });
        }
        builder = builder.add_source(UppercaseKeys(config::File::with_name(path).required(true)));
    }
    builder = builder.add_source(Variables(vars.iter().map(|(k, v)| (k.clone(), v.clone())).collect()));
    let failed = |source| ConfigError::File { path: file.clone().unwrap_or_default(), source };
    let all = builder.build().map_err(failed)?;
    let settings = all.clone().try_deserialize::<T>().map_err(failed)?;
    Ok(Read { settings, all })
}
