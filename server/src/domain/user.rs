//! Users and the parsed forms of their identifiers (parse, don't validate: a `Username` in
//! hand is known to be well formed and normalised).

use std::fmt;

use chrono::{DateTime, Utc};

/// A stored user. `Debug` leaves the password hash out.
#[derive(Clone, sqlx::FromRow)]
pub struct User {
    pub id: i64,
    pub username: String,
    pub email: String,
    pub hashed_password: String,
    pub is_active: bool,
    pub is_admin: bool,
    pub created_at: DateTime<Utc>,
}

impl fmt::Debug for User {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("User")
            .field("id", &self.id)
            .field("username", &self.username)
            .field("email", &self.email)
            .field("hashed_password", &"<redacted>")
            .field("is_active", &self.is_active)
            .field("is_admin", &self.is_admin)
            .field("created_at", &self.created_at)
            .finish()
    }
}

impl User {
    /// The role as the API and the access token name it.
    pub fn role(&self) -> &'static str {
        if self.is_admin { "admin" } else { "user" }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidIdentity {
    #[error("username must be 3 to 64 characters: lowercase letters, digits, '.', '_' or '-'")]
    Username,
    #[error("e-mail address is not valid")]
    Email,
}

/// A username: 3 to 64 characters of `[a-z0-9._-]`, stored lowercase. No `@`, so a login
/// string is unambiguously a username or an e-mail address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Username(String);

impl Username {
    pub fn parse(raw: &str) -> Result<Self, InvalidIdentity> {
        let name = raw.trim().to_lowercase();
        let ok_len = (3..=64).contains(&name.len());
        let ok_chars = name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-'));
        if ok_len && ok_chars {
            Ok(Self(name))
        } else {
            Err(InvalidIdentity::Username)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An e-mail address, stored lowercase. Deliberately permissive (one `@`, something on each
/// side, no spaces, at most 254 bytes): the only way to really validate one is to send mail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    pub fn parse(raw: &str) -> Result<Self, InvalidIdentity> {
        let email = raw.trim().to_lowercase();
        let valid = email.len() <= 254
            && !email.chars().any(|c| c.is_whitespace() || c.is_control())
            && matches!(email.split_once('@'), Some((local, domain))
                if !local.is_empty() && !domain.is_empty() && !domain.contains('@'));
        if valid {
            Ok(Self(email))
        } else {
            Err(InvalidIdentity::Email)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// How a sign-in names its account: trimmed and lowercased, the way identities are stored.
/// Anything longer than an e-mail address can be, or holding a control character (which no
/// username or e-mail address has, and PostgreSQL cannot store: NUL), is refused before it
/// reaches the database.
pub fn normalise_login(raw: &str) -> Option<String> {
    let login = raw.trim().to_lowercase();
    (!login.is_empty() && login.len() <= 254 && !has_control_character(&login)).then_some(login)
}

/// Whether a name or search term holds a control character: no username or e-mail address
/// does, so it can match nothing, and PostgreSQL cannot even compare a NUL (an error, not an
/// answer), so it must not reach the database.
pub fn has_control_character(term: &str) -> bool {
    term.chars().any(char::is_control)
}

/// A user about to be stored.
#[derive(Clone)]
pub struct NewUser {
    pub username: Username,
    pub email: Email,
    pub hashed_password: String,
    pub is_admin: bool,
}

impl fmt::Debug for NewUser {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewUser")
            .field("username", &self.username)
            .field("email", &self.email)
            .field("is_admin", &self.is_admin)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_are_normalised_and_bounded() {
        assert_eq!(Username::parse("  Alice.B ").unwrap().as_str(), "alice.b");
        assert!(Username::parse("ab").is_err());
        assert!(Username::parse(&"a".repeat(65)).is_err());
        assert!(Username::parse("a@b").is_err(), "no @: it would read as an e-mail");
        assert!(Username::parse("päivi").is_err());
        assert!(Username::parse("robert'); drop table users;--").is_err());
    }

    #[test]
    fn emails_are_normalised_and_loosely_checked() {
        assert_eq!(Email::parse(" Bob@Example.COM ").unwrap().as_str(), "bob@example.com");
        assert_eq!(Email::parse("admin@localhost").unwrap().as_str(), "admin@localhost");
        for bad in [
            "",
            "bob",
            "@x",
            "bob@",
            "a@b@c",
            "a b@c",
            &format!("{}@x", "a".repeat(260)),
        ] {
            assert!(Email::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn login_strings_are_normalised() {
        assert_eq!(normalise_login(" Admin ").as_deref(), Some("admin"));
        assert_eq!(normalise_login("   "), None);
        assert_eq!(normalise_login(&"x".repeat(255)), None);
        assert_eq!(normalise_login("ad\u{0}min"), None);
    }

    #[test]
    fn debug_never_shows_the_hash() {
        let user = User {
            id: 1,
            username: "a".into(),
            email: "a@b".into(),
            hashed_password: "$argon2id$secret".into(),
            is_active: true,
            is_admin: false,
            created_at: Utc::now(),
        };
        assert!(!format!("{user:?}").contains("argon2id"));
    }
}
