//! `fin-intelli`: see `cli.rs` for the commands. Everything else lives in the library.

use std::process::ExitCode;

use tracing_subscriber::EnvFilter;

/// See the `mimalloc` line in Cargo.toml: memory that bursts of Argon2 hashing free goes back
/// to the system.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    // A missing .env is normal; a broken one is worth saying.
    if let Err(error) = dotenvy::dotenv()
        && !error.not_found()
    {
        eprintln!("warning: ignoring .env: {error}");
    }
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn")))
        .with_writer(std::io::stderr)
        .init();
    server::cli::run().await
}
