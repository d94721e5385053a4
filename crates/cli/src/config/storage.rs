//! `[storage]`: where operations are stored, chosen once from the URL scheme.

use std::path::PathBuf;

use anyhow::{Context, bail};

use super::raw::RawStorage;

/// Where operations are stored.
#[derive(Clone, PartialEq, Eq)]
pub enum StorageUrl {
    /// An SQLite file.
    Sqlite(PathBuf),
    /// A PostgreSQL database shared by several nodes, as a `postgres://` URL.
    Postgres(String),
}

/// The URL's password, if any, is a secret: shown as `<redacted>`.
impl std::fmt::Display for StorageUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StorageUrl::Sqlite(path) => write!(f, "sqlite://{}", path.display()),
            StorageUrl::Postgres(url) => {
                // postgres://user:secret@host/db → postgres://user:<redacted>@host/db
                let userinfo = url.find("://").map(|i| i + 3).zip(url.rfind('@'));
                let password = userinfo
                    .filter(|(start, at)| start < at)
                    .and_then(|(start, at)| url[start..at].find(':').map(|c| (start + c, at)));
                match password {
                    Some((colon, at)) => write!(f, "{}:<redacted>{}", &url[..colon], &url[at..]),
                    None => f.write_str(url),
                }
            }
        }
    }
}

impl std::fmt::Debug for StorageUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match self {
            StorageUrl::Sqlite(_) => "Sqlite",
            StorageUrl::Postgres(_) => "Postgres",
        };
        f.debug_tuple(kind).field(&self.to_string()).finish()
    }
}

/// Parses a `sqlite://PATH` or `postgres://USER@HOST:PORT/DB` (also `postgresql://`) URL;
/// the backend is chosen from the scheme, once.
pub fn parse_storage_url(url: &str) -> anyhow::Result<StorageUrl> {
    const VALID: &str = "use sqlite://PATH or postgres://USER@HOST:PORT/DB";
    match url.split_once("://") {
        Some(("sqlite", path)) if !path.is_empty() => Ok(StorageUrl::Sqlite(PathBuf::from(path))),
        Some(("sqlite", _)) => bail!("{url:?} names no file: use sqlite://PATH"),
        Some(("postgres" | "postgresql", rest)) if !rest.is_empty() => {
            Ok(StorageUrl::Postgres(url.to_owned()))
        }
        Some(("postgres" | "postgresql", _)) => bail!("{url:?} names no server: {VALID}"),
        _ => bail!("{url:?} is not a supported storage URL: {VALID}"),
    }
}

/// `[storage]`: the URL, if the file names one.
pub(super) fn storage(raw: &RawStorage) -> anyhow::Result<Option<StorageUrl>> {
    raw.url
        .as_deref()
        .map(|url| parse_storage_url(url).context("[storage] url"))
        .transpose()
}
