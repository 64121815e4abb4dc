//! The command line: `serve` (the default), `migrate` and `create-user`.

use std::io::{BufRead as _, Write as _};
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};
use leptos::config::get_configuration;
use secrecy::{ExposeSecret, SecretString};

use crate::clock::SystemClock;
use crate::config::Config;
use crate::service::NewAccount;
use crate::startup;
use crate::storage::{self, RedactedUrl};

#[derive(Debug, Parser)]
#[command(
    name = "fin-intelli",
    version,
    about = "fin_intelli: sign-in security you run yourself"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the web app and the JSON API (the default).
    Serve,
    /// Apply database migrations and exit.
    Migrate,
    /// Make a new Ed25519 key the access-token signing key; the old one keeps verifying.
    RotateSigningKey,
    /// Replay a labeled corpus through the risk engine and report AUC, TPR at 1% FPR and
    /// challenge rates per attack type (see ../shared/risk/README.md).
    RiskEval {
        /// The corpus, `.csv` or `.csv.gz`.
        #[arg(long)]
        corpus: std::path::PathBuf,
        /// Also write `row,score` for every data row here.
        #[arg(long)]
        scores_out: Option<std::path::PathBuf>,
        /// Print every term of these rows' scores (0-based data row numbers).
        #[arg(long, value_delimiter = ',')]
        explain: Vec<usize>,
    },
    /// Add a user. The password is read from standard input, never from the command line.
    CreateUser {
        #[arg(long)]
        username: String,
        #[arg(long)]
        email: String,
        #[arg(long)]
        admin: bool,
        /// Read the password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
    },
}

pub async fn run() -> ExitCode {
    let cli = Cli::parse();
    let config = match Config::from_env() {
        Ok(config) => config,
        Err(error) => {
            tracing::error!(%error, "invalid configuration");
            return ExitCode::from(2);
        }
    };
    let outcome = match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(config).await,
        Command::Migrate => migrate(config).await,
        Command::RotateSigningKey => rotate_signing_key(config).await,
        Command::RiskEval {
            corpus,
            scores_out,
            explain,
        } => risk_eval(&config, &corpus, scores_out.as_deref(), &explain),
        Command::CreateUser {
            username,
            email,
            admin,
            password_stdin,
        } => create_user(config, &username, &email, admin, password_stdin).await,
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!("{error}");
            ExitCode::FAILURE
        }
    }
}

type CliResult = Result<(), Box<dyn std::error::Error>>;

/// Geolocation is loaded up front (the replay needs every place), then the corpus replays
/// on this one thread.
fn risk_eval(
    config: &Config,
    corpus: &std::path::Path,
    scores_out: Option<&std::path::Path>,
    explain: &[usize],
) -> CliResult {
    let geo = crate::domain::geo::Geolocator::load(&config.geoip);
    if !geo.has_city_data() {
        tracing::warn!("no geolocation data: places are unknown and the report will be worse (run `make geoip`)");
    }
    let mut stdout = std::io::stdout().lock();
    crate::risk_eval::run(corpus, scores_out, explain, &geo, &mut stdout)?;
    Ok(())
}

async fn serve(config: Config) -> CliResult {
    let mut leptos = get_configuration(None)?.leptos_options;
    if std::env::var_os("LEPTOS_SITE_ADDR").is_none() {
        leptos.site_addr = ([127, 0, 0, 1], 8000).into();
    }
    let addr = leptos.site_addr;
    tracing::info!(?config, "starting");
    let state = startup::build(&config, leptos, Arc::new(SystemClock)).await?;
    if config.insecure_dev_cookies {
        warn_insecure_cookies();
    }
    if config.bootstrap_admin
        && let Some(password) = state.services.accounts.bootstrap_admin().await?
    {
        announce_admin_password(&password);
    }
    let listener = tokio::net::TcpListener::bind(addr).await?;
    tracing::info!("listening on http://{}", listener.local_addr()?);
    startup::serve(listener, state, startup::shutdown_signal()).await?;
    Ok(())
}

/// The first-run admin password goes to the console once, straight to stdout and not
/// through the logger, so it never lands in a log pipeline that collects tracing output.
#[allow(clippy::print_stdout)]
fn announce_admin_password(password: &SecretString) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(
        out,
        "\n=== fin_intelli: first start ===\n\
         Created the administrator account.\n  \
         username: admin\n  \
         password: {}\n\
         This password is shown once and stored only as a hash. Sign in and keep it safe.\n\
         ================================\n",
        password.expose_secret()
    );
    let _ = out.flush();
}

/// Loud on purpose: this setting must never survive into production.
#[allow(clippy::print_stderr)]
fn warn_insecure_cookies() {
    let warning = "FIN_INSECURE_DEV_COOKIES is on: session cookies are sent without `Secure` and can leak \
                   over plain HTTP. For development only; never in production.";
    tracing::warn!("{warning}");
    eprintln!("\n!!! WARNING !!! {warning}\n");
}

async fn migrate(config: Config) -> CliResult {
    let store = storage::connect(&config.database_url, 1).await?;
    store.migrate().await?;
    tracing::info!(database = %RedactedUrl(&config.database_url), "migrations applied");
    Ok(())
}

async fn rotate_signing_key(config: Config) -> CliResult {
    if config.jwt_secret.is_some() {
        return Err(
            "FIN_JWT_SECRET is set: tokens are signed with that HS256 secret; rotate it in the configuration".into(),
        );
    }
    let store = storage::connect(&config.database_url, 1).await?;
    store.migrate().await?;
    let kid = crate::service::rotate_signing_key(store.as_ref(), &SystemClock).await?;
    tracing::info!(%kid, "new signing key active; the previous one keeps verifying");
    Ok(())
}

async fn create_user(config: Config, username: &str, email: &str, admin: bool, password_stdin: bool) -> CliResult {
    if !password_stdin {
        return Err("pass --password-stdin and write the password to standard input".into());
    }
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    let password = SecretString::from(line.trim_end_matches(['\r', '\n']).to_owned());
    let leptos = leptos::config::LeptosOptions::builder()
        .output_name("fin_intelli")
        .build();
    let state = startup::build(&config, leptos, Arc::new(SystemClock)).await?;
    let account = NewAccount {
        username: username.to_owned(),
        email: email.to_owned(),
        password,
        is_admin: admin,
    };
    let user = state.services.accounts.create_user(account).await?;
    tracing::info!(id = user.id, username = %user.username, role = user.role(), "user created");
    Ok(())
}
