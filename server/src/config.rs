//! Command line and environment configuration of `maestro-server`.
use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Parser;

/// A secret that never shows in logs or `Debug` output.
#[derive(Clone, Default)]
pub struct Secret(pub String);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl std::str::FromStr for Secret {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Self(s.to_owned()))
    }
}

/// KernelCI-compatible Maestro API server.
///
/// With no options it serves on 127.0.0.1:8001 and keeps everything in an embedded SQLite
/// database in ./maestro-data. Give --mongodb-uri to use MongoDB instead (for example an
/// existing KernelCI database).
#[derive(Clone, Debug, Parser)]
#[command(name = "maestro-server", version)]
pub struct Config {
    /// Address and port to listen on.
    #[arg(long, env = "MAESTRO_BIND", default_value = "127.0.0.1:8001")]
    pub bind: SocketAddr,

    /// Directory of the embedded SQLite database and the generated secret key (created if
    /// missing).
    #[arg(long, env = "MAESTRO_DATA_DIR", default_value = "maestro-data")]
    pub data_dir: PathBuf,

    /// MongoDB connection string; when set, nodes and users are stored in MongoDB instead
    /// of SQLite. Also read from MONGO_SERVICE, as the Python server does.
    #[arg(long, env = "MAESTRO_MONGODB_URI")]
    pub mongodb_uri: Option<Secret>,

    /// MongoDB database name.
    #[arg(long, env = "MAESTRO_MONGODB_DATABASE", default_value = "kernelci")]
    pub mongodb_database: String,

    /// HS256 key that signs access tokens. When absent, one is generated once and kept in
    /// the data directory, so tokens survive a restart.
    #[arg(long, env = "SECRET_KEY", hide_env_values = true)]
    pub secret_key: Option<Secret>,

    /// A second key, shared with other KernelCI services, that is accepted (never used to
    /// sign) for access tokens.
    #[arg(long, env = "UNIFIED_SECRET", hide_env_values = true)]
    pub unified_secret: Option<Secret>,

    /// Lifetime of issued access tokens, in seconds (default 10 years, as KernelCI).
    #[arg(long, env = "ACCESS_TOKEN_EXPIRE_SECONDS", default_value_t = crate::auth::DEFAULT_TOKEN_LIFETIME_SECS)]
    pub token_lifetime_secs: u64,

    /// Password of the first admin user; when set and no user of that name exists, an
    /// active, verified superuser is created at start.
    #[arg(long, env = "MAESTRO_ADMIN_PASSWORD", hide_env_values = true)]
    pub admin_password: Option<Secret>,

    /// Username of the first admin user.
    #[arg(long, env = "MAESTRO_ADMIN_USERNAME", default_value = "admin")]
    pub admin_username: String,

    /// Email of the first admin user.
    #[arg(long, env = "MAESTRO_ADMIN_EMAIL", default_value = "admin@localhost")]
    pub admin_email: String,

    /// Log filter (tracing's EnvFilter syntax).
    #[arg(
        long,
        env = "MAESTRO_LOG",
        default_value = "maestro_server=info,tower_http=warn"
    )]
    pub log: String,
}

impl Config {
    /// Parses the command line and environment; `MONGO_SERVICE` fills `--mongodb-uri`.
    pub fn from_env_and_args() -> Self {
        let mut cfg = Self::parse();
        if cfg.mongodb_uri.is_none() {
            cfg.mongodb_uri = std::env::var("MONGO_SERVICE")
                .ok()
                .filter(|s| !s.is_empty())
                .map(Secret);
        }
        cfg
    }

    /// The defaults, with the data in `data_dir`: for tests and embedding.
    pub fn embedded(data_dir: PathBuf) -> Self {
        let mut cfg = Self::parse_from(["maestro-server"]);
        cfg.data_dir = data_dir;
        cfg
    }
}
