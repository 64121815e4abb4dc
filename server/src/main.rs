//! `fin-intelli`: see `cli.rs` for the commands. Everything else lives in the library.

use std::process::ExitCode;

use tracing_subscriber::EnvFilter;

/// See the `mimalloc` line in Cargo.toml: memory that bursts of Argon2 hashing free goes back
/// to the system.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc hands freed memory back lazily, from the thread that freed it, at that thread's
/// next allocation. A thread that then goes quiet (the geolocation loader after start-up, a
/// hashing thread after a burst of sign-ins) would keep what it freed resident for good:
/// over 50 MiB after start-up. So the binary asks for it back every few seconds.
const RETURN_FREED_MEMORY_EVERY: std::time::Duration = std::time::Duration::from_secs(3);

#[allow(unsafe_code)]
mod mimalloc_api {
    // SAFETY: `mi_collect` is part of mimalloc's public C API, in the library the mimalloc
    // crate links; it takes a plain bool, has no preconditions and may be called from any
    // thread at any time.
    unsafe extern "C" {
        pub safe fn mi_collect(force: bool);
    }
}

fn return_freed_memory_periodically() {
    let spawned = std::thread::Builder::new()
        .name("return-freed-memory".into())
        .spawn(|| {
            loop {
                std::thread::sleep(RETURN_FREED_MEMORY_EVERY);
                mimalloc_api::mi_collect(true);
            }
        });
    if let Err(error) = spawned {
        eprintln!("warning: freed memory will be returned to the system late: {error}");
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    return_freed_memory_periodically();
    // A missing .env is normal; a broken one is worth saying.
    if let Err(error) = dotenvy::dotenv()
        && !error.not_found()
    {
        eprintln!("warning: ignoring .env: {error}");
    }
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn")))
        .with_writer(std::io::stderr)
        // Colours for a terminal only: a log file or collector gets plain text.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    server::cli::run().await
}
