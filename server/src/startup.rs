//! Building the application from its configuration, and serving it.

use std::future::Future;
use std::sync::Arc;

use leptos::config::LeptosOptions;
use tokio::net::TcpListener;

use crate::clock::Clock;
use crate::config::Config;
use crate::connections;
use crate::domain::access::AccessTokens;
use crate::domain::geo::Geolocator;
use crate::domain::password::{PasswordError, PasswordPolicy, Passwords, UnreadableList};
use crate::domain::throttle::ThrottlePolicy;
use crate::edge::cookies::Cookies;
use crate::http::{self, AppState};
use crate::service::{
    ActivityFeed, DatabaseGate, Maintenance, ServiceParts, Services, SessionPolicy, load_keys, load_nonce_key,
    load_recovery_key, load_successor_key,
};

use crate::domain::passkey::RelyingParty;

/// How often old activity and throttle counters are pruned.
const MAINTENANCE_INTERVAL: std::time::Duration = std::time::Duration::from_secs(3600);
use crate::storage::{self, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("cannot open the database: {0}")]
    Store(#[from] StoreError),
    #[error("cannot load the signing key: {0}")]
    Key(#[from] crate::service::KeyLoadError),
    #[error("bad password-hashing settings: {0}")]
    Passwords(#[from] PasswordError),
    #[error(transparent)]
    PasswordPolicy(#[from] UnreadableList),
    #[error("FIN_PUBLIC_URL cannot be a passkey relying party: {0}")]
    RelyingParty(String),
}

/// Connects to the database, applies migrations and assembles the services. Geolocation
/// data loads in the background: the server answers before it is in memory.
pub async fn build(config: &Config, leptos: LeptosOptions, clock: Arc<dyn Clock>) -> Result<AppState, StartupError> {
    let geo = Arc::new(Geolocator::empty());
    geo.load_in_background(config.geoip.clone());
    build_with_geo(config, leptos, clock, geo).await
}

/// [`build`] with a geolocator the caller has loaded (tests share one across apps).
pub async fn build_with_geo(
    config: &Config,
    leptos: LeptosOptions,
    clock: Arc<dyn Clock>,
    geo: Arc<Geolocator>,
) -> Result<AppState, StartupError> {
    let store = storage::connect(&config.database_url, config.db_max_connections).await?;
    store.migrate().await?;
    let keys = load_keys(config, store.as_ref(), clock.as_ref()).await?;
    let tokens = AccessTokens::new(
        &keys.signing,
        &keys.others,
        &config.jwt_issuer,
        &config.jwt_audience,
        config.access_ttl,
    );
    let passwords = tokio::task::spawn_blocking({
        let settings = config.argon2;
        move || Passwords::new(settings)
    })
    .await
    .map_err(PasswordError::from)??;
    let password_policy = tokio::task::spawn_blocking(PasswordPolicy::bundled)
        .await
        .map_err(PasswordError::from)??;
    let successors = load_successor_key(store.as_ref(), clock.as_ref()).await?;
    let recovery_key = load_recovery_key(store.as_ref(), clock.as_ref()).await?;
    let nonce_key = load_nonce_key(store.as_ref(), clock.as_ref()).await?;
    let policy = SessionPolicy {
        lifetime: config.refresh_ttl,
        idle_timeout: config.session_idle,
        grace: config.refresh_grace,
    };
    let maintenance = Maintenance::new(
        store.clone(),
        clock.clone(),
        config.activity_retention,
        MAINTENANCE_INTERVAL,
    );
    let feed = ActivityFeed::new(store.clone(), config.streams);
    let services = Services::new(ServiceParts {
        store: store.clone(),
        passwords,
        password_policy,
        tokens,
        successors,
        recovery_key,
        nonce_key,
        clock,
        policy,
        geo: geo.clone(),
        throttle: ThrottlePolicy::default(),
        risk: config.risk,
        relying_party: RelyingParty::new(&config.public_url).map_err(StartupError::RelyingParty)?,
    });
    Ok(AppState {
        database: DatabaseGate::new(store.clone()),
        metrics: http::metrics::Metrics::default(),
        services,
        store,
        geo,
        maintenance,
        feed,
        cookies: Cookies::new(!config.insecure_dev_cookies),
        trusted_proxies: config.trusted_proxies.clone().into(),
        allowed_origins: http::cors::AllowedOrigins::new(&config.cors_origins),
        security: http::headers::SecurityHeaders {
            live_reload: config.live_reload,
        },
        request_timeout: config.request_timeout,
        connections: config.connections,
        leptos,
    })
}

/// Serves the app until `shutdown` resolves, then lets in-flight requests finish, within the
/// connection limits of `state.connections` (see [`connections`]).
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let housekeeping = tokio::spawn(state.maintenance.clone().run_forever());
    let feed = tokio::spawn(state.feed.clone().run());
    let streams = state.feed.clone();
    let limits = state.connections;
    let app = http::router(state);
    connections::serve(listener, app, limits, async move {
        shutdown.await;
        // Live streams never finish by themselves; end them so in-flight requests can.
        streams.stop();
    })
    .await;
    housekeeping.abort();
    feed.abort();
    Ok(())
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down: finishing in-flight requests");
}
