//! Where settings come from: a TOML file, the environment (with `*_FILE` variants for
//! secrets) and command-line flags, merged with flag > environment > file > default into
//! the name → value map [`Config::from_vars`] parses, remembering each value's origin.

use std::collections::{BTreeMap, HashMap};
use std::ffi::OsString;
use std::fmt;
use std::path::{Path, PathBuf};

use super::registry::{SETTINGS, Setting, key_of, setting_named};
use super::{Config, ConfigError};

/// Where a setting's value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// Nothing set it.
    Default,
    /// The configuration file, under that key (`listen`, or `database_url_file`).
    File {
        /// The file.
        path: PathBuf,
        /// The key as written.
        key: String,
    },
    /// That environment variable (`INLET_LISTEN`, or `INLET_DATABASE_URL_FILE`).
    Env {
        /// The variable.
        var: String,
    },
    /// That command-line flag.
    Flag {
        /// The flag (`--listen`).
        flag: &'static str,
    },
}

impl fmt::Display for Origin {
    /// As `inlet config`'s source column shows it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Default => f.write_str("default"),
            Self::File { path, key } => write!(f, "file {} ({key})", path.display()),
            Self::Env { var } => write!(f, "env {var}"),
            Self::Flag { flag } => write!(f, "flag {flag}"),
        }
    }
}

/// Where each setting of a [`Config`] came from.
#[derive(Debug, Clone, Default)]
pub struct Sources {
    origins: BTreeMap<&'static str, Origin>,
    config_file: Option<(PathBuf, Origin)>,
}

impl Sources {
    /// The origin of a setting's value ([`Origin::Default`] when nothing set it).
    pub fn origin(&self, name: &str) -> &Origin {
        self.origins.get(name).unwrap_or(&Origin::Default)
    }

    /// The configuration file read, and what named it (`--config` or `INLET_CONFIG`).
    pub fn config_file(&self) -> Option<(&Path, &Origin)> {
        self.config_file.as_ref().map(|(p, o)| (p.as_path(), o))
    }

    /// How an error message names a setting: by what set it.
    pub fn place(&self, name: &str) -> String {
        match self.origin(name) {
            Origin::Default => name.to_owned(),
            Origin::Env { var } if var == name => var.clone(),
            Origin::Env { var } => format!("{name} (read from {var})"),
            Origin::File { path, key } if *key == key_of(name) => {
                format!("{key} in {}", path.display())
            }
            Origin::File { path, key } => {
                format!("{} (read from {key} in {})", key_of(name), path.display())
            }
            Origin::Flag { flag } => (*flag).to_owned(),
        }
    }

    /// A setting's error, naming the setting by what set it.
    pub fn locate(&self, error: ConfigError) -> LoadError {
        LoadError::Invalid {
            place: self.place(error.name),
            reason: error.reason,
        }
    }
}

/// The configuration could not be loaded. No message holds a setting's value.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// A setting's value is wrong.
    #[error("invalid value for {place}: {reason}")]
    Invalid {
        /// The setting as its source names it (`INLET_LISTEN`, `listen in /etc/inlet.toml`).
        place: String,
        /// What is wrong.
        reason: String,
    },
    /// The configuration file cannot be read.
    #[error("cannot read the configuration file {}: {source}", path.display())]
    ReadFile {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The configuration file is not TOML (the line itself is left out: it may hold a secret).
    #[error("{}:{line}:{column}: not valid TOML: {message}", path.display())]
    Syntax {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
    /// A key of the configuration file is no setting.
    #[error("unknown setting `{key}` in {}{}", path.display(), hint(.suggestion))]
    UnknownKey {
        key: String,
        path: PathBuf,
        suggestion: Option<String>,
    },
    /// A key of the configuration file holds a table, date or float.
    #[error("{key} in {}: expected a string, an integer, a boolean or an array of them, found {found}", path.display())]
    BadType {
        key: String,
        path: PathBuf,
        found: &'static str,
    },
    /// A secret is given both directly and as a file.
    #[error("both {plain} and {file} are set {place}; set only one")]
    BothSet {
        plain: String,
        file: String,
        /// `in the environment` or `in /etc/inlet.toml`.
        place: String,
    },
    /// A secret's file cannot be read.
    #[error("cannot read {} ({place}): {source}", path.display())]
    ReadSecret {
        place: String,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A secret's file is empty.
    #[error("{} ({place}) is empty", path.display())]
    EmptySecret { place: String, path: PathBuf },
    /// A setting's environment variable is not UTF-8.
    #[error("{name} is not valid UTF-8")]
    NotUnicode { name: String },
}

fn hint(suggestion: &Option<String>) -> String {
    suggestion
        .as_ref()
        .map(|s| format!("; did you mean `{s}`?"))
        .unwrap_or_default()
}

/// A value as a layer gives it: the text, or the file holding it.
#[derive(Debug, Clone)]
enum Raw {
    Value(String),
    File(PathBuf),
}

#[derive(Debug, Clone)]
struct Entry {
    raw: Raw,
    origin: Origin,
}

type Layer = BTreeMap<&'static str, Entry>;

/// Collects the sources of a configuration, then reads it.
#[derive(Debug, Default)]
pub struct Loader {
    file: Option<(PathBuf, Origin)>,
    env: Vec<(OsString, OsString)>,
    flags: Vec<(&'static str, &'static str, String)>,
}

impl Loader {
    /// No sources: every setting at its default.
    pub fn new() -> Self {
        Self::default()
    }

    /// Reads settings from this TOML file; `named_by` is what gave the path.
    pub fn file(mut self, path: impl Into<PathBuf>, named_by: Origin) -> Self {
        self.file = Some((path.into(), named_by));
        self
    }

    /// Reads settings from these environment variables (others than settings are ignored).
    pub fn env<K: Into<OsString>, V: Into<OsString>>(
        mut self,
        vars: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        self.env = vars
            .into_iter()
            .map(|(k, v)| (k.into(), v.into()))
            .collect();
        self
    }

    /// A setting given by a command-line flag (`name` is the setting's variable).
    pub fn flag(
        mut self,
        name: &'static str,
        flag: &'static str,
        value: impl Into<String>,
    ) -> Self {
        debug_assert!(setting_named(name).is_some(), "{name} is no setting");
        self.flags.push((name, flag, value.into()));
        self
    }

    /// Merges the sources and parses the result.
    pub fn load(self) -> Result<Config, LoadError> {
        let mut merged = Layer::new();
        if let Some((path, _)) = &self.file {
            merged.extend(file_layer(path)?);
        }
        merged.extend(env_layer(self.env)?);
        for (name, flag, value) in self.flags {
            if !value.is_empty() {
                let origin = Origin::Flag { flag };
                merged.insert(
                    name,
                    Entry {
                        raw: Raw::Value(value),
                        origin,
                    },
                );
            }
        }
        let mut vars = HashMap::new();
        let mut sources = Sources {
            origins: BTreeMap::new(),
            config_file: self.file,
        };
        for (name, entry) in merged {
            let value = match entry.raw {
                Raw::Value(value) => value,
                Raw::File(path) => read_secret(&path, &label(&entry.origin))?,
            };
            sources.origins.insert(name, entry.origin);
            vars.insert(name.to_owned(), value);
        }
        let mut config = Config::from_vars(vars).map_err(|e| sources.locate(e))?;
        config.sources = sources;
        Ok(config)
    }
}

/// The layer a value comes from, to name a secret given twice.
#[derive(Clone, Copy)]
enum Side<'a> {
    Env,
    File(&'a Path),
}

/// Inserts one layer's value, refusing a secret given both directly and as a file.
fn insert(
    layer: &mut Layer,
    setting: &'static Setting,
    entry: Entry,
    side: Side<'_>,
) -> Result<(), LoadError> {
    if layer.insert(setting.name, entry).is_none() {
        return Ok(());
    }
    Err(match side {
        Side::Env => LoadError::BothSet {
            plain: setting.name.to_owned(),
            file: format!("{}_FILE", setting.name),
            place: "in the environment".to_owned(),
        },
        Side::File(path) => LoadError::BothSet {
            plain: setting.key(),
            file: format!("{}_file", setting.key()),
            place: format!("in {}", path.display()),
        },
    })
}

/// How an error names the variable or key that gave a value.
fn label(origin: &Origin) -> String {
    match origin {
        Origin::Default => "default".to_owned(),
        Origin::Env { var } => var.clone(),
        Origin::File { path, key } => format!("{key} in {}", path.display()),
        Origin::Flag { flag } => (*flag).to_owned(),
    }
}

fn env_layer(vars: Vec<(OsString, OsString)>) -> Result<Layer, LoadError> {
    let mut layer = Layer::new();
    for (var, value) in vars {
        let Some(var) = var.to_str() else { continue };
        let (setting, from_file) = match setting_named(var) {
            Some(s) => (s, false),
            None => match var.strip_suffix("_FILE").and_then(setting_named) {
                Some(s) if s.secret => (s, true),
                _ => continue,
            },
        };
        let value = value.into_string().map_err(|_| LoadError::NotUnicode {
            name: var.to_owned(),
        })?;
        if value.is_empty() {
            continue;
        }
        let raw = if from_file {
            Raw::File(PathBuf::from(value))
        } else {
            Raw::Value(value)
        };
        let origin = Origin::Env {
            var: var.to_owned(),
        };
        insert(&mut layer, setting, Entry { raw, origin }, Side::Env)?;
    }
    Ok(layer)
}

fn file_layer(path: &Path) -> Result<Layer, LoadError> {
    let text = std::fs::read_to_string(path).map_err(|source| LoadError::ReadFile {
        path: path.to_owned(),
        source,
    })?;
    let table: toml::Table = text.parse().map_err(|e: toml::de::Error| {
        let start = e.span().map_or(0, |s| s.start);
        let before = text.get(..start).unwrap_or(&text);
        LoadError::Syntax {
            path: path.to_owned(),
            line: before.matches('\n').count() + 1,
            column: before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1,
            message: e.message().trim().replace('\n', "; "),
        }
    })?;
    let mut layer = Layer::new();
    for (key, value) in table {
        let found = SETTINGS.iter().find(|s| s.key() == key);
        let (setting, from_file) = match found {
            Some(s) => (s, false),
            None => match SETTINGS
                .iter()
                .find(|s| s.secret && key.strip_suffix("_file") == Some(s.key().as_str()))
            {
                Some(s) => (s, true),
                None => {
                    return Err(LoadError::UnknownKey {
                        suggestion: suggest(&key),
                        key,
                        path: path.to_owned(),
                    });
                }
            },
        };
        let bad_type = |found| LoadError::BadType {
            key: key.clone(),
            path: path.to_owned(),
            found,
        };
        let value = match value {
            toml::Value::Array(items) => items
                .into_iter()
                .map(|item| scalar(item).map_err(bad_type))
                .collect::<Result<Vec<_>, _>>()?
                .join(","),
            value => scalar(value).map_err(bad_type)?,
        };
        if value.is_empty() {
            continue;
        }
        let raw = if from_file {
            Raw::File(PathBuf::from(value))
        } else {
            Raw::Value(value)
        };
        let origin = Origin::File {
            path: path.to_owned(),
            key,
        };
        insert(&mut layer, setting, Entry { raw, origin }, Side::File(path))?;
    }
    Ok(layer)
}

/// A TOML value as the text an environment variable would hold.
fn scalar(value: toml::Value) -> Result<String, &'static str> {
    match value {
        toml::Value::String(s) => Ok(s),
        toml::Value::Integer(i) => Ok(i.to_string()),
        toml::Value::Boolean(b) => Ok(b.to_string()),
        toml::Value::Float(_) => Err("a float"),
        toml::Value::Datetime(_) => Err("a date"),
        toml::Value::Array(_) => Err("a nested array"),
        toml::Value::Table(_) => Err("a table"),
    }
}

/// The file key closest to a mistyped one, if one is close.
fn suggest(key: &str) -> Option<String> {
    let wanted = key_of(key);
    SETTINGS
        .iter()
        .flat_map(|s| {
            let key = s.key();
            let file = s.secret.then(|| format!("{key}_file"));
            std::iter::once(key).chain(file)
        })
        .map(|candidate| (strsim::levenshtein(&wanted, &candidate), candidate))
        .filter(|(distance, _)| *distance <= 3)
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, candidate)| candidate)
}

/// A secret's file, less one trailing newline (as `echo` and editors leave it).
fn read_secret(path: &Path, place: &str) -> Result<String, LoadError> {
    let text = std::fs::read_to_string(path).map_err(|source| LoadError::ReadSecret {
        place: place.to_owned(),
        path: path.to_owned(),
        source,
    })?;
    let value = text
        .strip_suffix("\r\n")
        .or_else(|| text.strip_suffix('\n'))
        .unwrap_or(&text);
    if value.is_empty() {
        return Err(LoadError::EmptySecret {
            place: place.to_owned(),
            path: path.to_owned(),
        });
    }
    Ok(value.to_owned())
}

#[cfg(test)]
mod tests;
