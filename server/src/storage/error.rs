use std::fmt;

/// The storage layer's one error type. Callers decide by kind; the cause is for the log.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A uniqueness constraint refused the write; names the field (`username`, `email`,
    /// `credential`).
    #[error("{0} is already taken")]
    Conflict(&'static str),
    /// The database cannot be reached or is shutting down: worth retrying later (503).
    #[error("the database is unavailable")]
    Unavailable(#[source] sqlx::Error),
    #[error("invalid database configuration: {0}")]
    Config(String),
    #[error("migration failed")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("database error")]
    Other(#[source] sqlx::Error),
}

impl StoreError {
    pub fn is_unavailable(&self) -> bool {
        matches!(self, StoreError::Unavailable(_))
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(error: sqlx::Error) -> Self {
        use sqlx::Error as E;
        match &error {
            E::PoolTimedOut | E::PoolClosed | E::Io(_) | E::Tls(_) | E::WorkerCrashed => StoreError::Unavailable(error),
            E::Database(db) => {
                if db.is_unique_violation() {
                    let detail = format!("{} {}", db.constraint().unwrap_or_default(), db.message());
                    StoreError::Conflict(if detail.contains("email") {
                        "email"
                    } else if detail.contains("credential") {
                        "credential"
                    } else {
                        "username"
                    })
                } else if is_transient(db.code().as_deref(), db.message()) {
                    StoreError::Unavailable(error)
                } else {
                    StoreError::Other(error)
                }
            }
            _ => StoreError::Other(error),
        }
    }
}

/// PostgreSQL shutdown/startup/connection classes (57P0x, 08xxx) and SQLite's busy/locked
/// codes (5, 6, with extended variants) mean "try again", not "bug".
fn is_transient(code: Option<&str>, message: &str) -> bool {
    match code {
        Some(code) if code.starts_with("57P") || code.starts_with("08") => true,
        Some(code) => {
            let primary = code.parse::<i32>().map(|c| c & 0xff).ok();
            matches!(primary, Some(5 | 6)) && message.contains("locked")
        }
        None => false,
    }
}

/// Masks the password in a database URL for logs: `postgres://user:***@host/db`.
pub struct RedactedUrl<'a>(pub &'a str);

impl fmt::Display for RedactedUrl<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let url = self.0;
        match (url.find("://"), url.rfind('@')) {
            (Some(scheme_end), Some(at)) if at > scheme_end => {
                let userinfo = &url[scheme_end + 3..at];
                let user = userinfo.split(':').next().unwrap_or_default();
                write!(f, "{}{}:***{}", &url[..scheme_end + 3], user, &url[at..])
            }
            _ => f.write_str(url.split('?').next().unwrap_or(url)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_redacted() {
        assert_eq!(
            RedactedUrl("postgres://u:secret@h:5432/db").to_string(),
            "postgres://u:***@h:5432/db"
        );
        assert_eq!(RedactedUrl("postgres://u@h/db").to_string(), "postgres://u:***@h/db");
        assert_eq!(RedactedUrl("sqlite:data/x.db?mode=rwc").to_string(), "sqlite:data/x.db");
    }

    #[test]
    fn transient_codes() {
        assert!(is_transient(
            Some("57P01"),
            "terminating connection due to administrator command"
        ));
        assert!(is_transient(Some("5"), "database is locked"));
        assert!(is_transient(Some("517"), "database is locked"));
        assert!(!is_transient(Some("23505"), "duplicate key"));
    }
}
