//! Where the monitor connects and as whom: flags, environment, the config file with named
//! servers, and a kci-dev settings file; the token in a [`Secret`] that never prints.
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde::Deserialize;

/// The URL used when nothing else names a server.
pub const DEFAULT_URL: &str = "http://127.0.0.1:8001";

/// A token (or any credential): its `Debug` and `Display` show `***`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a credential.
    pub fn new(s: impl Into<String>) -> Self {
        Self(s.into())
    }

    /// The credential itself, for the `Authorization` header only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// What the monitor and its subcommands run against.
#[derive(Clone, Debug)]
pub struct Config {
    /// Base URL of the API (without `/latest`).
    pub url: url::Url,
    /// The token, when there is one.
    pub token: Option<Secret>,
    /// No edits, even with a token.
    pub read_only: bool,
    /// Name of the server entry it came from, for the status bar.
    pub server_name: Option<String>,
    /// Mouse capture (off by default: it breaks the terminal's own text selection).
    pub mouse: bool,
}

/// One named server of the config file (or a kci-dev instance).
#[derive(Clone, Debug, Default, Deserialize)]
pub struct ServerEntry {
    /// Base URL; kci-dev calls it `api`.
    #[serde(alias = "api")]
    pub url: Option<String>,
    /// Token for that server.
    pub token: Option<String>,
}

/// `config.toml` in the platform's config directory (`~/.config/maestro/` on Linux):
///
/// ```toml
/// default_server = "staging"
/// [servers.staging]
/// url = "https://staging.kernelci.org:9000"
/// token = "..."
/// ```
#[derive(Clone, Debug, Default, Deserialize)]
pub struct ConfigFile {
    /// The server used without `--server`.
    pub default_server: Option<String>,
    /// Named servers.
    #[serde(default)]
    pub servers: BTreeMap<String, ServerEntry>,
}

/// kci-dev's `kci-dev.toml`: `default_instance` and one table per instance with `api` and
/// `token` (and keys the monitor does not need, such as `pipeline`).
pub fn parse_kci_dev_settings(text: &str) -> anyhow::Result<ConfigFile> {
    let table: toml::Table = toml::from_str(text).context("parsing the kci-dev settings")?;
    let mut file = ConfigFile::default();
    for (key, value) in table {
        match value {
            toml::Value::String(s) if key == "default_instance" => file.default_server = Some(s),
            toml::Value::Table(t) if t.contains_key("api") => {
                let entry: ServerEntry = toml::Value::Table(t)
                    .try_into()
                    .with_context(|| format!("kci-dev instance [{key}]"))?;
                file.servers.insert(key, entry);
            }
            _ => {}
        }
    }
    Ok(file)
}

/// Where kci-dev looks for its settings, in its order: `./.kci-dev.toml`,
/// `~/.config/kci-dev/kci-dev.toml`, `/etc/kci-dev.toml`.
pub fn kci_dev_settings_paths() -> Vec<PathBuf> {
    let mut paths = vec![PathBuf::from(".kci-dev.toml")];
    if let Some(home) = directories::BaseDirs::new() {
        paths.push(home.home_dir().join(".config/kci-dev/kci-dev.toml"));
    }
    paths.push(PathBuf::from("/etc/kci-dev.toml"));
    paths
}

/// The monitor's own config file path.
pub fn config_file_path() -> Option<PathBuf> {
    directories::ProjectDirs::from("org", "kernelci", "maestro")
        .map(|d| d.config_dir().join("config.toml"))
}

/// The directory for the log file.
pub fn state_dir() -> PathBuf {
    directories::ProjectDirs::from("org", "kernelci", "maestro")
        .map(|d| d.state_dir().unwrap_or_else(|| d.cache_dir()).to_path_buf())
        .unwrap_or_else(std::env::temp_dir)
}

/// What the command line and environment gave (see `main.rs` for the flags).
#[derive(Clone, Debug, Default)]
pub struct Sources {
    /// `--url` / `MAESTRO_URL`.
    pub url: Option<String>,
    /// `--token` / `MAESTRO_TOKEN`.
    pub token: Option<Secret>,
    /// `--server NAME`.
    pub server: Option<String>,
    /// `--kci-dev-settings FILE`.
    pub kci_dev_settings: Option<PathBuf>,
    /// `--config FILE` (default: the platform's config directory).
    pub config_file: Option<PathBuf>,
    /// `--read-only`.
    pub read_only: bool,
    /// `--mouse`.
    pub mouse: bool,
}

fn read_optional(path: &Path) -> anyhow::Result<Option<String>> {
    match std::fs::read_to_string(path) {
        Ok(s) => Ok(Some(s)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

impl Config {
    /// Resolves the server: `--url` wins; else `--server NAME` (or the default server) from
    /// the config file, then from kci-dev's settings; else [`DEFAULT_URL`]. The token comes
    /// from `--token`/`MAESTRO_TOKEN`, else from the chosen entry.
    pub fn resolve(src: Sources) -> anyhow::Result<Self> {
        let own = match src.config_file.clone().or_else(config_file_path) {
            Some(path) => match read_optional(&path)? {
                Some(text) => toml::from_str::<ConfigFile>(&text)
                    .with_context(|| format!("parsing {}", path.display()))?,
                None => ConfigFile::default(),
            },
            None => ConfigFile::default(),
        };
        let kci = match &src.kci_dev_settings {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("reading {}", path.display()))?;
                parse_kci_dev_settings(&text)?
            }
            None => {
                let mut found = ConfigFile::default();
                for path in kci_dev_settings_paths() {
                    if let Some(text) = read_optional(&path)? {
                        found = parse_kci_dev_settings(&text)
                            .with_context(|| format!("in {}", path.display()))?;
                        break;
                    }
                }
                found
            }
        };
        Self::from_parts(src, &own, &kci)
    }

    /// [`Config::resolve`] once the files are read (tests build configs this way).
    pub fn from_parts(src: Sources, own: &ConfigFile, kci: &ConfigFile) -> anyhow::Result<Self> {
        let wanted = src
            .server
            .clone()
            .or_else(|| own.default_server.clone())
            .or_else(|| {
                // kci-dev's default only counts when kci-dev's file is the one in use.
                own.servers.is_empty().then(|| kci.default_server.clone())?
            });
        let entry = match &wanted {
            Some(name) => match own.servers.get(name).or_else(|| kci.servers.get(name)) {
                Some(e) => Some(e.clone()),
                None if src.url.is_some() => None,
                None => {
                    let mut known: Vec<&String> =
                        own.servers.keys().chain(kci.servers.keys()).collect();
                    known.sort();
                    known.dedup();
                    bail!(
                        "no server named '{name}' in the config file or the kci-dev settings \
                         (known: {known:?})"
                    )
                }
            },
            None => None,
        };
        let raw_url = src
            .url
            .clone()
            .or_else(|| entry.as_ref().and_then(|e| e.url.clone()))
            .unwrap_or_else(|| DEFAULT_URL.to_owned());
        let url = parse_base_url(&raw_url)?;
        let token = src.token.clone().or_else(|| {
            entry
                .as_ref()
                .and_then(|e| e.token.clone())
                .filter(|t| !t.is_empty())
                .map(Secret::new)
        });
        Ok(Self {
            url,
            token,
            read_only: src.read_only,
            server_name: if src.url.is_some() { None } else { wanted },
            mouse: src.mouse,
        })
    }
}

/// Parses a base URL and drops a trailing `/latest` (kci-dev's `api` values have one
/// sometimes), so that paths can be appended.
pub fn parse_base_url(raw: &str) -> anyhow::Result<url::Url> {
    let mut url =
        url::Url::parse(raw.trim()).with_context(|| format!("'{raw}' is not a valid URL"))?;
    if !matches!(url.scheme(), "http" | "https") {
        bail!("'{raw}': the URL must be http or https");
    }
    let path = url.path().trim_end_matches('/').to_owned();
    let path = path
        .strip_suffix("/latest")
        .map(str::to_owned)
        .unwrap_or(path);
    url.set_path(&format!("{path}/"));
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    const KCI_DEV: &str = r#"
default_instance="staging"
[local]
pipeline="https://127.0.0.1"
api="https://127.0.0.1:8001/"
token="local-token"
[staging]
pipeline="https://staging.kernelci.org:9100/"
api="https://staging.kernelci.org:9000/"
token="staging-token"
"#;

    #[test]
    fn the_token_never_prints() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s:?} {s}"), "*** ***");
        let cfg = Config::from_parts(
            Sources {
                token: Some(s),
                ..Sources::default()
            },
            &ConfigFile::default(),
            &ConfigFile::default(),
        )
        .unwrap();
        assert!(!format!("{cfg:?}").contains("hunter2"));
    }

    #[test]
    fn kci_dev_instances_are_servers() {
        let kci = parse_kci_dev_settings(KCI_DEV).unwrap();
        let cfg = Config::from_parts(Sources::default(), &ConfigFile::default(), &kci).unwrap();
        assert_eq!(cfg.url.as_str(), "https://staging.kernelci.org:9000/");
        assert_eq!(cfg.token.unwrap().expose(), "staging-token");
        let local = Config::from_parts(
            Sources {
                server: Some("local".into()),
                ..Sources::default()
            },
            &ConfigFile::default(),
            &kci,
        )
        .unwrap();
        assert_eq!(local.url.as_str(), "https://127.0.0.1:8001/");
        assert_eq!(local.server_name.as_deref(), Some("local"));
    }

    #[test]
    fn flags_win_and_defaults_apply() {
        let own: ConfigFile = toml::from_str(
            "default_server = \"prod\"\n[servers.prod]\nurl = \"https://api.example.org/latest\"\ntoken = \"t\"\n",
        )
        .unwrap();
        let cfg = Config::from_parts(Sources::default(), &own, &ConfigFile::default()).unwrap();
        assert_eq!(cfg.url.as_str(), "https://api.example.org/");
        let cfg = Config::from_parts(
            Sources {
                url: Some("http://localhost:9".into()),
                token: Some(Secret::new("flag")),
                ..Sources::default()
            },
            &own,
            &ConfigFile::default(),
        )
        .unwrap();
        assert_eq!(cfg.url.as_str(), "http://localhost:9/");
        assert_eq!(cfg.token.unwrap().expose(), "flag");
        let none = Config::from_parts(
            Sources::default(),
            &ConfigFile::default(),
            &ConfigFile::default(),
        )
        .unwrap();
        assert_eq!(none.url.as_str(), "http://127.0.0.1:8001/");
        assert!(none.token.is_none());
        let err = Config::from_parts(
            Sources {
                server: Some("nope".into()),
                ..Sources::default()
            },
            &own,
            &ConfigFile::default(),
        )
        .unwrap_err();
        assert!(err.to_string().contains("no server named 'nope'"), "{err}");
    }
}
