//! `tessera`: the command-line entry point. Each subcommand lives in its own module; this
//! file holds the argument grammar and turns every failure into one line on stderr.

#![forbid(unsafe_code)]

mod gateway_cmd;
mod input;
mod jwe_cmd;
mod jwk_cmd;
mod jwt_cmd;
mod mock_cmd;
mod server_cmd;

use std::io::Write;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Tessera: JWT/JWKS authentication platform and JOSE toolkit.
#[derive(Parser)]
#[command(name = "tessera", version, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// JSON Web Key chores: generate, convert, thumbprint.
    #[command(subcommand)]
    Jwk(jwk_cmd::JwkCommand),
    /// JSON Web Token chores: sign, verify, decode.
    #[command(subcommand)]
    Jwt(jwt_cmd::JwtCommand),
    /// JSON Web Encryption: encrypt to a recipient's key, decrypt.
    #[command(subcommand)]
    Jwe(jwe_cmd::JweCommand),
    /// Run the auth server.
    Serve(server_cmd::ServeArgs),
    /// Manage users on the server's database.
    #[command(subcommand)]
    User(server_cmd::UserCommand),
    /// Manage OAuth clients on the server's database.
    #[command(subcommand)]
    Client(server_cmd::ClientCommand),
    /// Manage signing keys on the server's database.
    #[command(subcommand)]
    Key(server_cmd::KeyCommand),
    /// Verifying reverse proxy: only requests with a valid token reach the upstream.
    Gateway(gateway_cmd::GatewayArgs),
    /// Local JWKS server that mints tokens, for tests.
    MockJwks(mock_cmd::MockArgs),
}

/// A failure to report: one line, no backtrace.
#[derive(Debug)]
pub struct Failure(pub String);

impl<E: std::fmt::Display> From<E> for Failure {
    fn from(e: E) -> Self {
        Failure(e.to_string())
    }
}

/// Result of a subcommand: the text to print on stdout.
pub type Outcome = Result<String, Failure>;

fn main() -> ExitCode {
    // A bug must still end in one line, not a backtrace.
    std::panic::set_hook(Box::new(|info| {
        let _ = writeln!(
            std::io::stderr(),
            "tessera: internal error: {info}; please report it"
        );
    }));
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return usage_error(&e),
    };
    let outcome = match cli.command {
        Command::Jwk(cmd) => jwk_cmd::run(cmd),
        Command::Jwt(cmd) => jwt_cmd::run(cmd),
        Command::Jwe(cmd) => jwe_cmd::run(cmd),
        Command::Serve(args) => server_cmd::serve(args),
        Command::User(cmd) => server_cmd::user(cmd),
        Command::Client(cmd) => server_cmd::client(cmd),
        Command::Key(cmd) => server_cmd::key(cmd),
        Command::Gateway(args) => gateway_cmd::run(args),
        Command::MockJwks(args) => mock_cmd::run(args),
    };
    match outcome {
        Ok(text) => match print(&text) {
            Ok(()) => ExitCode::SUCCESS,
            // The reader went away (`| head`): nothing to tell it, but not a success.
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::FAILURE,
            Err(e) => {
                // Output that did not arrive (a full disk, say) must not look like success:
                // `client add` shows its secret only once.
                let _ = writeln!(std::io::stderr(), "tessera: cannot write the output: {e}");
                ExitCode::FAILURE
            }
        },
        Err(Failure(message)) => {
            let line = message.replace('\n', " ");
            let _ = writeln!(std::io::stderr(), "tessera: {line}");
            ExitCode::FAILURE
        }
    }
}

/// The runtime of the commands that do I/O.
pub(crate) fn runtime() -> Result<tokio::runtime::Runtime, Failure> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure(format!("cannot start the runtime: {e}")))
}

/// Logs to stderr: `TESSERA_LOG` sets the filter (default `info`), `TESSERA_LOG_FORMAT=json`
/// one JSON object per line.
pub(crate) fn init_logging() {
    use std::io::IsTerminal;
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("TESSERA_LOG")
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,tower_http=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    if std::env::var("TESSERA_LOG_FORMAT").is_ok_and(|f| f == "json") {
        builder.json().init();
    } else {
        builder.init();
    }
}

/// Before printing a secret (a private key, a client secret): when stdout is a file (`tessera
/// jwk generate > key.jwk`), it is made owner-only, as `ssh-keygen` makes its private keys,
/// whatever the shell's umask gave it. A file that cannot be restricted (another user's) is
/// refused rather than left readable by others. Pipes and terminals are left alone.
pub(crate) fn restrict_stdout() -> Result<(), Failure> {
    #[cfg(unix)]
    {
        use std::os::fd::AsFd;
        use std::os::unix::fs::PermissionsExt;
        let Ok(fd) = std::io::stdout().as_fd().try_clone_to_owned() else {
            return Ok(());
        };
        let file = std::fs::File::from(fd);
        let Ok(meta) = file.metadata() else {
            return Ok(());
        };
        if !meta.is_file() || meta.permissions().mode() & 0o077 == 0 {
            return Ok(());
        }
        let owner_only = meta.permissions().mode() & 0o700;
        file.set_permissions(std::fs::Permissions::from_mode(owner_only))
            .map_err(|e| {
                Failure(format!(
                    "stdout is a file others can read, and it cannot be made owner-only ({e}): \
                     not writing a secret to it"
                ))
            })?;
    }
    Ok(())
}

/// Writes `text` (and a final newline) to stdout, flushed.
pub(crate) fn print(text: &str) -> std::io::Result<()> {
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(text.as_bytes())?;
    if !text.is_empty() && !text.ends_with('\n') {
        stdout.write_all(b"\n")?;
    }
    stdout.flush()
}

/// Help and version as clap prints them; a usage error as one line (clap's own message
/// runs to several, with the usage and a hint), exit status 2 as before.
fn usage_error(e: &clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    if matches!(
        e.kind(),
        ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    ) {
        if e.use_stderr() {
            let _ = e.print();
            return ExitCode::from(2);
        }
        // Help on stdout: a failed write is a failure, as for any output.
        return match print(&e.render().to_string()) {
            Ok(()) => ExitCode::SUCCESS,
            Err(_) => ExitCode::FAILURE,
        };
    }
    let rendered = e.render().to_string();
    let message = rendered
        .lines()
        .map(str::trim)
        .take_while(|line| !line.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    let message = message.strip_prefix("error: ").unwrap_or(&message);
    let _ = writeln!(
        std::io::stderr(),
        "tessera: {message} (see `{} --help`)",
        subcommand_path()
    );
    ExitCode::from(2)
}

/// The subcommand the arguments name (`tessera jwt sign`), for pointing at its own help.
fn subcommand_path() -> String {
    use clap::CommandFactory;
    let mut command = Cli::command();
    let mut path = vec!["tessera".to_owned()];
    for arg in std::env::args().skip(1) {
        let Some(sub) = command.find_subcommand(&arg).cloned() else {
            break;
        };
        path.push(arg);
        command = sub;
    }
    path.join(" ")
}
