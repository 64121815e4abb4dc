//! Throttling failed sign-ins (NIST SP 800-63B 5.2.2, OWASP Authentication Cheat Sheet).
//!
//! Every sign-in attempt is counted, before its password is checked, under three keys:
//! - the account from this address: a few free tries, then delays that double;
//! - the address across all accounts: an address failing against many accounts is
//!   credential stuffing or spraying, and is slowed down for every account;
//! - the account from anywhere: a distributed attack on one account slows down. From an
//!   address the owner has signed in from (the same IPv4 address or IPv6 /64, no wider:
//!   a CGNAT or mobile neighbour must not share the owner's exemption) a separate count
//!   with a higher cap applies instead, so the owner at home is not locked out by someone
//!   else's failures elsewhere (no lockout denial of service), yet even there the account
//!   has a ceiling.
//!
//! Counting before the check is what makes parallel requests useless: the store counts
//! and decides in one locked step, so forty requests sent at once are forty counts. A
//! success then clears its own account-and-address count and gives back what it added to
//! the other two. Counts reset after a quiet period. The rules here are pure; the store
//! applies them under a row lock ([`crate::storage::Store::throttle_attempt`]).

use std::net::IpAddr;

use chrono::{DateTime, Duration, Utc};
use ipnet::IpNet;

/// One throttling rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule {
    /// Attempts counted before any delay.
    pub free: i64,
    /// The first delay; each further failure doubles it.
    pub base: Duration,
    /// The longest delay.
    pub cap: Duration,
    /// A key with no failure for this long starts from zero again.
    pub reset_after: Duration,
}

/// A key's stored state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counter {
    pub failures: i64,
    pub blocked_until: DateTime<Utc>,
    pub last_failure_at: DateTime<Utc>,
}

impl Counter {
    pub fn fresh(now: DateTime<Utc>) -> Self {
        Self {
            failures: 0,
            blocked_until: now,
            last_failure_at: now,
        }
    }
}

impl Rule {
    fn current(&self, counter: &Counter, now: DateTime<Utc>) -> Counter {
        if now - counter.last_failure_at >= self.reset_after {
            Counter::fresh(now)
        } else {
            *counter
        }
    }

    /// `Some(until)` when an attempt now must be refused.
    pub fn blocked(&self, counter: &Counter, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let counter = self.current(counter, now);
        (now < counter.blocked_until).then_some(counter.blocked_until)
    }

    /// The state after counting one more attempt now.
    pub fn count(&self, counter: &Counter, now: DateTime<Utc>) -> Counter {
        let failures = self.current(counter, now).failures + 1;
        Counter {
            failures,
            blocked_until: now + self.delay(failures),
            last_failure_at: now,
        }
    }

    /// The wait after `failures` failures: none while free, then base, 2 × base, 4 × base…
    pub fn delay(&self, failures: i64) -> Duration {
        if failures < self.free {
            return Duration::zero();
        }
        let doublings = (failures - self.free).min(30) as u32;
        let seconds = self.base.num_seconds().saturating_mul(1_i64 << doublings);
        Duration::seconds(seconds).min(self.cap)
    }
}

/// Why an attempt was refused, for the log and the risk engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    AccountFromAddress,
    Address,
    Account,
    /// The current password checked before a password change.
    PasswordCheck,
}

impl Scope {
    pub fn reason(self) -> &'static str {
        match self {
            Scope::AccountFromAddress => "too_many_attempts",
            Scope::Address => "credential_stuffing",
            Scope::Account => "account_under_attack",
            Scope::PasswordCheck => "password_guessing",
        }
    }
}

/// A key to count under, with its rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThrottleKey {
    pub key: String,
    pub scope: Scope,
    pub rule: Rule,
}

/// What the store decided about an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Counted; go on and check the password. `counted`: the most attempts any of the
    /// keys now holds, this one included.
    Allowed { counted: i64 },
    /// Not counted and not checked.
    Throttled { retry_at: DateTime<Utc>, scope: Scope },
}

/// Whole seconds until `retry_at`, rounded up and at least one: retrying at the advertised
/// time must succeed (the `Retry-After` of every throttled answer).
pub fn retry_after_secs(retry_at: DateTime<Utc>, now: DateTime<Utc>) -> i64 {
    let millis = (retry_at - now).num_milliseconds().max(1);
    (millis + 999) / 1000
}

/// The three rules. The defaults follow OWASP's guidance: a handful of free tries per
/// account and address, more for an address (offices share one), and a high bar for the
/// account-wide count (NIST allows at most 100 consecutive failures).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThrottlePolicy {
    pub account_from_address: Rule,
    pub address: Rule,
    pub account: Rule,
    /// The account, counted apart, from an address its owner has signed in from.
    pub account_at_home: Rule,
    /// The current-password check of a password change, per account.
    pub password_check: Rule,
}

impl Default for ThrottlePolicy {
    fn default() -> Self {
        Self {
            account_from_address: Rule {
                free: 5,
                base: Duration::seconds(1),
                cap: Duration::minutes(15),
                reset_after: Duration::hours(1),
            },
            address: Rule {
                free: 20,
                base: Duration::seconds(1),
                cap: Duration::hours(1),
                reset_after: Duration::hours(1),
            },
            account: Rule {
                free: 50,
                base: Duration::seconds(1),
                cap: Duration::minutes(15),
                reset_after: Duration::hours(24),
            },
            // NIST SP 800-63B 5.2.2: no more than 100 consecutive failures per account.
            account_at_home: Rule {
                free: 100,
                base: Duration::seconds(1),
                cap: Duration::minutes(15),
                reset_after: Duration::hours(24),
            },
            // Whoever holds a session already: three tries, then waits; the fifth failure
            // ends the session (see `AccountService::change_password`).
            password_check: Rule {
                free: 3,
                base: Duration::seconds(2),
                cap: Duration::minutes(15),
                reset_after: Duration::hours(1),
            },
        }
    }
}

impl ThrottlePolicy {
    /// The keys one attempt is counted under. `account` names the account: its id when it
    /// exists, else the normalised name tried (so unknown names are throttled alike).
    /// `owner_address`: the owner has signed in from the client's address
    /// ([`address_key`]) before, so the account-wide count is the one kept for home.
    pub fn keys(&self, account: &str, ip: IpAddr, owner_address: bool) -> Vec<ThrottleKey> {
        let address = address_key(ip);
        let mut keys = vec![
            ThrottleKey {
                key: format!("account-ip:{account}|{address}"),
                scope: Scope::AccountFromAddress,
                rule: self.account_from_address,
            },
            ThrottleKey {
                key: format!("ip:{address}"),
                scope: Scope::Address,
                rule: self.address,
            },
        ];
        keys.push(if owner_address {
            ThrottleKey {
                key: format!("account-home:{account}"),
                scope: Scope::Account,
                rule: self.account_at_home,
            }
        } else {
            ThrottleKey {
                key: format!("account:{account}"),
                scope: Scope::Account,
                rule: self.account,
            }
        });
        // One lock order for every transaction, so two attempts can never deadlock.
        keys.sort_by(|a, b| a.key.cmp(&b.key));
        keys
    }
}

impl ThrottlePolicy {
    /// The key the current-password check of a password change is counted under.
    pub fn password_check_key(&self, user_id: i64) -> ThrottleKey {
        ThrottleKey {
            key: format!("password-check:u:{user_id}"),
            scope: Scope::PasswordCheck,
            rule: self.password_check,
        }
    }
}

/// The address as throttling sees it: IPv4 as is, IPv6 by its /64, since one client
/// usually holds a whole /64 and could otherwise rotate through it.
pub fn address_key(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(_) => network(ip, 64),
    }
}

/// The network an owner is recognised by: IPv4 /24, IPv6 /48 (addresses change within a
/// household or office; the network rarely does).
pub fn known_network(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(_) => network(ip, 24),
        IpAddr::V6(_) => network(ip, 48),
    }
}

fn network(ip: IpAddr, prefix: u8) -> String {
    IpNet::new(ip, prefix)
        .map(|n| n.trunc().to_string())
        .unwrap_or_else(|_| ip.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn t0() -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000, 0).unwrap()
    }

    #[test]
    fn free_tries_then_doubling_delays_up_to_the_cap() {
        let rule = ThrottlePolicy::default().account_from_address;
        let delays: Vec<i64> = (1..=16).map(|n| rule.delay(n).num_seconds()).collect();
        assert_eq!(delays, [0, 0, 0, 0, 1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 900, 900]);
    }

    #[test]
    fn an_attempt_inside_the_delay_is_refused_and_a_quiet_hour_resets() {
        let rule = ThrottlePolicy::default().account_from_address;
        let mut counter = Counter::fresh(t0());
        for _ in 0..4 {
            assert_eq!(rule.blocked(&counter, t0()), None);
            counter = rule.count(&counter, t0());
        }
        counter = rule.count(&counter, t0());
        assert_eq!(rule.blocked(&counter, t0()), Some(t0() + Duration::seconds(1)));
        assert_eq!(rule.blocked(&counter, t0() + Duration::seconds(1)), None);
        let later = t0() + Duration::hours(1);
        assert_eq!(rule.count(&counter, later).failures, 1);
    }

    #[test]
    fn keys_are_sorted_and_the_owners_address_keeps_a_higher_account_cap() {
        let policy = ThrottlePolicy::default();
        let ip: IpAddr = "2001:db8:1:2:3:4:5:6".parse().unwrap();
        let keys = policy.keys("u:7", ip, false);
        assert_eq!(
            keys.iter().map(|k| k.key.as_str()).collect::<Vec<_>>(),
            [
                "account-ip:u:7|2001:db8:1:2::/64",
                "account:u:7",
                "ip:2001:db8:1:2::/64"
            ]
        );
        let home = policy.keys("u:7", ip, true);
        assert_eq!(
            home.iter().map(|k| k.key.as_str()).collect::<Vec<_>>(),
            [
                "account-home:u:7",
                "account-ip:u:7|2001:db8:1:2::/64",
                "ip:2001:db8:1:2::/64"
            ]
        );
        assert_eq!(home[0].scope, Scope::Account);
        assert!(home[0].rule.free > policy.account.free && home[0].rule.free <= 100);
        assert_eq!(known_network("81.2.69.142".parse().unwrap()), "81.2.69.0/24");
        assert_eq!(known_network(ip), "2001:db8:1::/48");
    }

    proptest! {
        /// More failures never shorten the wait.
        #[test]
        fn delays_never_shrink(n in 0_i64..10_000) {
            let rule = ThrottlePolicy::default().address;
            prop_assert!(rule.delay(n + 1) >= rule.delay(n));
        }
    }
}
