//! Model references on the command line and in settings: `NAME` (its champion), `NAME@ALIAS`,
//! `NAME:VERSION`.

use std::fmt;
use std::str::FromStr;

use crate::error::RegistryError;
use crate::layout::check_name;

/// A reference to a registered model.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ModelRef {
    /// `NAME`: the version its [`crate::DEFAULT_ALIAS`] names.
    Name(String),
    /// `NAME@ALIAS`.
    Alias { name: String, alias: String },
    /// `NAME:VERSION`.
    Version { name: String, version: String },
}

impl ModelRef {
    /// The model name.
    pub fn name(&self) -> &str {
        match self {
            ModelRef::Name(name) | ModelRef::Alias { name, .. } | ModelRef::Version { name, .. } => name,
        }
    }
}

impl FromStr for ModelRef {
    type Err = RegistryError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let invalid = |reason: String| RegistryError::InvalidRef { input: s.to_string(), reason };
        let named = |kind: &'static str, v: &str| check_name(kind, v).map_err(|e| invalid(e.to_string()));
        if s.contains('@') && s.contains(':') {
            return Err(invalid("it has both '@' and ':'".into()));
        }
        if let Some((name, alias)) = s.split_once('@') {
            named("model name", name)?;
            named("alias", alias)?;
            return Ok(ModelRef::Alias { name: name.into(), alias: alias.into() });
        }
        if let Some((name, version)) = s.split_once(':') {
            named("model name", name)?;
            named("version", version)?;
            return Ok(ModelRef::Version { name: name.into(), version: version.into() });
        }
        named("model name", s)?;
        Ok(ModelRef::Name(s.into()))
    }
}

impl fmt::Display for ModelRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ModelRef::Name(name) => f.write_str(name),
            ModelRef::Alias { name, alias } => write!(f, "{name}@{alias}"),
            ModelRef::Version { name, version } => write!(f, "{name}:{version}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_three_forms_and_names_what_is_wrong() {
        let p = |s: &str| s.parse::<ModelRef>();
        assert!(matches!(p("ae"), Ok(ModelRef::Name(n)) if n == "ae"));
        assert!(matches!(p("ae@champion"), Ok(ModelRef::Alias { alias, .. }) if alias == "champion"));
        assert!(matches!(p("ae:20261202T135012345Z-1a2b3c4d"), Ok(ModelRef::Version { .. })));
        for bad in ["", "@x", "ae@", "ae:", "a@b:c", "a@b@c", "a/b"] {
            let e = p(bad).err().map(|e| e.to_string()).unwrap_or_default();
            assert!(e.contains("invalid model reference"), "{bad:?}: {e}");
        }
    }
}
