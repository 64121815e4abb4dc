//! Which new passwords to accept, after NIST SP 800-63B 3.1.1.2: at least 8 characters, at
//! most 1024 bytes, and none that a guesser tries first: a common or breached password, one
//! built from the account's username or e-mail address or from the service's name, or a
//! repetitive or sequential string. No composition rules (no "a digit and a symbol"), no
//! forced rotation. Each refusal says why, in words the person choosing can act on.
//!
//! It applies wherever a password is chosen: a new account, a password change, an
//! administrator's reset (`service::accounts`), through the UI and the API alike.

use secrecy::{ExposeSecret, SecretString};

use super::common::{CommonPasswords, UnreadableList};
use super::patterns;

/// Passwords longer than this are refused outright: Argon2 would take them, but nobody needs
/// a megabyte password and hashing one is a cheap way to burn our CPU.
pub const MAX_PASSWORD_BYTES: usize = 1024;
/// NIST SP 800-63B's minimum for user-chosen passwords.
pub const MIN_PASSWORD_CHARS: usize = 8;

/// The service's name, letters and digits only: "fin_intelli", "Fin Intelli", "finintelli"
/// and "fin-intelli 2024" all contain it once separators are dropped.
const SERVICE_NAME: &str = "finintelli";

/// A name at least this long (letters and digits) is refused anywhere in a password;
/// shorter ones only as a word of their own, so the user "ann" may still choose a password
/// with "planned" in it.
const MIN_NAME_CHARS_ANYWHERE: usize = 4;

/// Why a new password is refused. The messages go to the person choosing it, as they are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum WeakPassword {
    #[error("Choose a password of at least {MIN_PASSWORD_CHARS} characters.")]
    TooShort,
    #[error("Choose a password of at most {MAX_PASSWORD_BYTES} bytes.")]
    TooLong,
    #[error(
        "This password contains the account's username, which is the first thing an attacker \
         tries; choose one that does not."
    )]
    ContainsUsername,
    #[error(
        "This password contains the account's e-mail address or its name part, which is the \
         first thing an attacker tries; choose one that does not."
    )]
    ContainsEmail,
    #[error(
        "This password contains the name of this service (fin_intelli), which is the first \
         thing an attacker tries; choose one that does not."
    )]
    ContainsServiceName,
    #[error(
        "This password repeats one character or pattern (like \"aaaaaaaa\" or \"abcabcabc\"), \
         which is easy to guess; choose something less predictable."
    )]
    Repetitive,
    #[error(
        "This password is a sequence (like \"12345678\", \"abcdefgh\" or \"qwertyui\"), which is \
         easy to guess; choose something less predictable."
    )]
    Sequential,
    #[error(
        "This password is in a list of commonly used or breached passwords, which attackers \
         try first; choose another."
    )]
    Common,
}

/// Whose password it is: the account's own words that must not make up its password.
#[derive(Debug, Clone, Copy)]
pub struct PasswordContext<'a> {
    pub username: &'a str,
    pub email: &'a str,
}

/// The password policy, with the common-password list it owns. Built once with the
/// services and never changed.
#[derive(Debug)]
pub struct PasswordPolicy {
    common: CommonPasswords,
}

impl PasswordPolicy {
    /// The policy with the list compiled into the binary. It takes tens of milliseconds to
    /// unpack: call it once, off the async workers.
    pub fn bundled() -> Result<Self, UnreadableList> {
        Ok(Self {
            common: CommonPasswords::bundled()?,
        })
    }

    /// Checks a new password for the account `context` describes. The first rule it breaks
    /// is the answer, the most specific first.
    pub fn check(&self, password: &SecretString, context: PasswordContext<'_>) -> Result<(), WeakPassword> {
        let raw = password.expose_secret();
        if raw.len() > MAX_PASSWORD_BYTES {
            return Err(WeakPassword::TooLong);
        }
        if raw.chars().count() < MIN_PASSWORD_CHARS {
            return Err(WeakPassword::TooShort);
        }
        // The derived forms are as secret as the password: wrapped, they are wiped when dropped.
        let lowercased = SecretString::from(raw.to_lowercase());
        let lowercased = lowercased.expose_secret();
        let squeezed = SecretString::from(letters_and_digits(lowercased));
        let squeezed = squeezed.expose_secret();

        let username = context.username.to_lowercase();
        let email = context.email.to_lowercase();
        let local_part = email.rsplit_once('@').map_or(email.as_str(), |(local, _)| local);
        if contains_name(lowercased, squeezed, &username) {
            Err(WeakPassword::ContainsUsername)
        } else if (!email.is_empty() && lowercased.contains(&email)) || contains_name(lowercased, squeezed, local_part)
        {
            Err(WeakPassword::ContainsEmail)
        } else if squeezed.contains(SERVICE_NAME) {
            Err(WeakPassword::ContainsServiceName)
        } else if patterns::is_repetitive(lowercased) {
            Err(WeakPassword::Repetitive)
        } else if patterns::is_sequential(lowercased) {
            Err(WeakPassword::Sequential)
        } else if self.common.contains(lowercased) {
            Err(WeakPassword::Common)
        } else {
            Ok(())
        }
    }
}

fn letters_and_digits(text: &str) -> String {
    text.chars().filter(|c| c.is_alphanumeric()).collect()
}

/// Whether a lowercased password contains a (lowercased) name: anywhere, separators aside,
/// when the name has at least [`MIN_NAME_CHARS_ANYWHERE`] letters and digits ("John.Smith
/// 1980" contains "john.smith"); otherwise only where no letter touches it on either side
/// ("zoe2024" and "i am zoe" contain "zoe", "zoetrope" does not).
fn contains_name(lowercased: &str, squeezed: &str, name: &str) -> bool {
    let squeezed_name = letters_and_digits(name);
    if squeezed_name.chars().count() >= MIN_NAME_CHARS_ANYWHERE {
        return squeezed.contains(&squeezed_name);
    }
    !name.is_empty()
        && lowercased.match_indices(name).any(|(at, _)| {
            let before = lowercased[..at].chars().next_back();
            let after = lowercased[at + name.len()..].chars().next();
            !before.is_some_and(char::is_alphabetic) && !after.is_some_and(char::is_alphabetic)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALICE: PasswordContext<'static> = PasswordContext {
        username: "alice",
        email: "alice.liddell@example.com",
    };

    fn policy() -> PasswordPolicy {
        PasswordPolicy::bundled().unwrap()
    }

    fn check(policy: &PasswordPolicy, password: &str, context: PasswordContext<'_>) -> Result<(), WeakPassword> {
        policy.check(&SecretString::from(password.to_owned()), context)
    }

    #[test]
    fn a_passphrase_of_ordinary_words_is_accepted() {
        let policy = policy();
        for password in [
            "correct horse battery staple",
            "a brand new passphrase",
            "Tr0ub4dor&3 is old",
            "ça va très bien, merci",
            "long enough",
        ] {
            assert_eq!(check(&policy, password, ALICE), Ok(()), "{password}");
        }
    }

    #[test]
    fn length_is_counted_in_characters_and_capped_in_bytes() {
        let policy = policy();
        assert_eq!(check(&policy, "short", ALICE), Err(WeakPassword::TooShort));
        assert_eq!(check(&policy, "ça va!!", ALICE), Err(WeakPassword::TooShort));
        assert_eq!(check(&policy, "ça va ok", ALICE), Ok(()));
        let counting: String = (0..300).map(|i| format!("{i} ")).collect();
        assert_eq!(check(&policy, &counting[..MAX_PASSWORD_BYTES], ALICE), Ok(()));
        assert_eq!(
            check(&policy, &"x".repeat(MAX_PASSWORD_BYTES + 1), ALICE),
            Err(WeakPassword::TooLong)
        );
    }

    #[test]
    fn common_and_breached_passwords_are_refused_whatever_their_case() {
        let policy = policy();
        // The top of the ranking, the middle, and about its 100,000th place.
        for password in [
            "password",
            "Password123",
            "iloveyou",
            "sunshine1",
            "PRINCESS",
            "07031969",
        ] {
            assert_eq!(check(&policy, password, ALICE), Err(WeakPassword::Common), "{password}");
        }
    }

    #[test]
    fn the_username_is_refused_anywhere_and_a_short_one_as_a_word() {
        let policy = policy();
        for password in ["alice2024", "ALICE in wonderland", "xx-Alice-xx", "al ice rules!"] {
            assert_eq!(
                check(&policy, password, ALICE),
                Err(WeakPassword::ContainsUsername),
                "{password}"
            );
        }
        let jo_smith = PasswordContext {
            username: "jo.smith",
            email: "js@example.org",
        };
        assert_eq!(
            check(&policy, "Jo Smith 1980", jo_smith),
            Err(WeakPassword::ContainsUsername)
        );
        let zoe = PasswordContext {
            username: "zoe",
            email: "z@example.org",
        };
        for password in ["zoe 2026 rocks", "i am zoe!!", "zoe12345x"] {
            assert_eq!(
                check(&policy, password, zoe),
                Err(WeakPassword::ContainsUsername),
                "{password}"
            );
        }
        // Inside a word, three letters are a coincidence, not the name.
        assert_eq!(check(&policy, "my zoetrope spins", zoe), Ok(()));
    }

    #[test]
    fn the_email_address_and_its_name_part_are_refused() {
        let policy = policy();
        for password in ["alice.liddell@example.com", "Liddell-Alice? no: AliceLiddell99"] {
            assert!(check(&policy, password, ALICE).is_err(), "{password}");
        }
        assert_eq!(
            check(&policy, "my name: alice.liddell", ALICE),
            Err(WeakPassword::ContainsUsername),
            "the username is checked first"
        );
        let bob = PasswordContext {
            username: "bobby",
            email: "rob.t@example.net",
        };
        assert_eq!(
            check(&policy, "rob.t@example.net", bob),
            Err(WeakPassword::ContainsEmail)
        );
        assert_eq!(check(&policy, "RobT was here", bob), Err(WeakPassword::ContainsEmail));
        assert_eq!(check(&policy, "robots are here", bob), Ok(()));
    }

    #[test]
    fn the_service_name_is_refused_in_any_spelling() {
        let policy = policy();
        for password in ["fin_intelli", "Fin Intelli 2024", "myfinintelli!", "fin-intelli pass"] {
            assert_eq!(
                check(&policy, password, ALICE),
                Err(WeakPassword::ContainsServiceName),
                "{password}"
            );
        }
    }

    #[test]
    fn repetitive_and_sequential_passwords_are_refused_before_the_list() {
        let policy = policy();
        for password in ["aaaaaaaa", "abcabcabc", "XyZxYzXyZ", "ab12ab12"] {
            assert_eq!(
                check(&policy, password, ALICE),
                Err(WeakPassword::Repetitive),
                "{password}"
            );
        }
        for password in ["12345678", "87654321", "abcdefgh", "QWERTYUIOP", "1234abcd", "zyxwvuts"] {
            assert_eq!(
                check(&policy, password, ALICE),
                Err(WeakPassword::Sequential),
                "{password}"
            );
        }
    }

    #[test]
    fn every_refusal_explains_itself() {
        assert_eq!(
            WeakPassword::Common.to_string(),
            "This password is in a list of commonly used or breached passwords, which attackers try first; choose \
             another."
        );
        assert_eq!(
            WeakPassword::TooShort.to_string(),
            "Choose a password of at least 8 characters."
        );
    }
}
