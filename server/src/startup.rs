//! Building the application from its configuration, and serving it.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use leptos::config::LeptosOptions;
use tokio::net::TcpListener;

use crate::clock::Clock;
use crate::config::Config;
use crate::domain::access::AccessTokens;
use crate::domain::password::{PasswordError, Passwords};
use crate::http::cookies::Cookies;
use crate::http::{self, AppState};
use crate::service::{AuthService, SessionPolicy, load_keys, load_successor_key};
use crate::storage::{self, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("cannot open the database: {0}")]
    Store(#[from] StoreError),
    #[error("cannot load the signing key: {0}")]
    Key(#[from] crate::service::KeyLoadError),
    #[error("bad password-hashing settings: {0}")]
    Passwords(#[from] PasswordError),
}

/// Connects to the database, applies migrations and assembles the services.
pub async fn build(config: &Config, leptos: LeptosOptions, clock: Arc<dyn Clock>) -> Result<AppState, StartupError> {
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
    let successors = load_successor_key(store.as_ref(), clock.as_ref()).await?;
    let policy = SessionPolicy {
        lifetime: config.refresh_ttl,
        idle_timeout: config.session_idle,
        grace: config.refresh_grace,
    };
    let auth = AuthService::new(store, passwords, tokens, successors, clock, policy);
    Ok(AppState {
        auth: Arc::new(auth),
        cookies: Cookies::new(!config.insecure_dev_cookies),
        trusted_proxies: config.trusted_proxies.clone().into(),
        leptos,
    })
}

/// Serves the app until `shutdown` resolves, then lets in-flight requests finish.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = http::router(state).into_make_service_with_connect_info::<SocketAddr>();
    axum::serve(listener, app).with_graceful_shutdown(shutdown).await
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
