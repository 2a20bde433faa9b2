//! `hush`: the Hush command-line client. See `spec/cli.md` and the README quickstart.

#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use hush_cli::cmd;

#[derive(Parser)]
#[command(
    name = "hush",
    version,
    about = "End-to-end encrypted messaging through a blind Hush relay",
    after_help = "The passphrase protecting the home comes from HUSH_PASSPHRASE or a terminal prompt."
)]
struct Cli {
    /// Folder holding this user's encrypted state
    #[arg(long, env = "HUSH_HOME", value_name = "DIR")]
    home: PathBuf,
    /// Machine-readable output: one JSON object per line (every command that lists or reports)
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create an identity and a mailbox, and publish prekeys and KeyPackages
    Init {
        /// The relay: hush://FINGERPRINT@HOST:PORT
        #[arg(long)]
        relay: String,
        /// Name shown on the contact card
        #[arg(long)]
        name: String,
    },
    /// Make this home a new device of a person: prints the request to approve on their first
    /// device (`hush device approve`); `hush recv` here then completes the link
    Link {
        /// The relay of this device's mailbox: hush://FINGERPRINT@HOST:PORT
        #[arg(long)]
        relay: String,
    },
    /// The person's devices
    Device {
        #[command(subcommand)]
        command: DeviceCommand,
    },
    /// Print this user's contact card (one line)
    Card,
    /// Manage contacts
    Contact {
        #[command(subcommand)]
        command: ContactCommand,
    },
    /// Print the safety number shared with a contact, to compare out of band
    Safety {
        /// Contact alias
        alias: String,
    },
    /// Send a message; prints the envelope id once the relay stored it
    Send {
        /// Contact alias
        alias: String,
        /// The message; `-` reads it from standard input (at most 1,000,000 bytes of UTF-8)
        text: String,
    },
    /// Send a file (up to 2 GiB, encrypted; an interrupted upload resumes when run again)
    SendFile {
        /// Contact alias
        alias: String,
        /// The file
        path: PathBuf,
    },
    /// Show whether a sent message is stored, delivered or expired
    Status {
        /// Envelope id printed by `send`
        envelope_id: String,
    },
    /// Fetch, decrypt and print new messages (1:1 and groups)
    Recv {
        /// Keep listening and print messages as they arrive, for this many seconds
        #[arg(long, value_name = "SECS")]
        wait: Option<u64>,
        /// Folder where received files are saved (default: HOME/downloads)
        #[arg(long, value_name = "DIR")]
        downloads: Option<PathBuf>,
    },
    /// Manage groups
    Group {
        #[command(subcommand)]
        command: GroupCommand,
    },
    /// Write identity, contacts and group membership (never session keys) to an encrypted file
    Backup {
        /// The backup file to write
        file: PathBuf,
    },
    /// Make this home from a backup file: new sessions, groups wait to be re-added
    Restore {
        /// The backup file to read
        file: PathBuf,
        /// Replace the home's existing state
        #[arg(long)]
        force: bool,
    },
}

#[derive(Subcommand)]
enum ContactCommand {
    /// Remember a contact: its card, or the fingerprint of someone who wrote to you
    Add {
        /// Local name for the contact
        alias: String,
        /// The contact's card (hush1:...)
        card: String,
    },
    /// List contacts
    List,
    /// Replace a contact's card: a new card, or the fingerprint of a sender `recv` showed
    /// (after an identity change, once you have checked it)
    Update {
        /// The contact's local name
        alias: String,
        /// The new card (hush1:...) or fingerprint
        card: String,
    },
    /// Forget a contact and every session with it
    Remove {
        /// The contact's local name
        alias: String,
    },
}

#[derive(Subcommand)]
enum DeviceCommand {
    /// Approve a link request (on the device that made the account)
    Approve {
        /// The request `hush link` printed on the new device (hush-link:...)
        request: String,
    },
    /// Revoke a device (on the device that made the account): it gets nothing sent from
    /// now on, and contacts and the other devices are told
    Revoke {
        /// The device's id, as `hush device list` shows it
        id: u32,
    },
    /// List the person's devices
    List,
}

#[derive(Subcommand)]
enum GroupCommand {
    /// Create a group
    Create {
        /// Local group name
        group: String,
    },
    /// Add contacts to a group
    Add {
        /// Group name
        group: String,
        /// Contact aliases
        #[arg(required = true)]
        aliases: Vec<String>,
        /// Members added per commit (at most 100, the relay's limit of Welcomes per commit)
        #[arg(long, default_value_t = cmd::group::MAX_ADD_BATCH)]
        batch: usize,
    },
    /// Remove members from a group
    Remove {
        /// Group name
        group: String,
        /// Contact aliases
        #[arg(required = true)]
        aliases: Vec<String>,
    },
    /// Send a message to a group
    Send {
        /// Group name
        group: String,
        /// The message; `-` reads it from standard input (at most 1,000,000 bytes of UTF-8)
        text: String,
    },
    /// Send a file to a group (up to 2 GiB, encrypted; an interrupted upload resumes when
    /// run again)
    SendFile {
        /// Group name
        group: String,
        /// The file
        path: PathBuf,
    },
    /// List groups and their members
    List,
}

async fn run(cli: Cli) -> Result<()> {
    hush_cli::output::set_json(cli.json);
    let home = cli.home.as_path();
    match cli.command {
        Command::Init { relay, name } => cmd::basic::init(home, &relay, &name).await,
        Command::Link { relay } => cmd::device::link(home, &relay).await,
        Command::Device { command } => match command {
            DeviceCommand::Approve { request } => cmd::device::approve(home, &request).await,
            DeviceCommand::Revoke { id } => cmd::device::revoke(home, id).await,
            DeviceCommand::List => cmd::device::list(home),
        },
        Command::Card => cmd::basic::card(home),
        Command::Contact { command } => match command {
            ContactCommand::Add { alias, card } => cmd::basic::contact_add(home, &alias, &card),
            ContactCommand::List => cmd::basic::contact_list(home),
            ContactCommand::Update { alias, card } => cmd::contact::update(home, &alias, &card),
            ContactCommand::Remove { alias } => cmd::contact::remove(home, &alias),
        },
        Command::Safety { alias } => cmd::basic::safety(home, &alias),
        Command::Send { alias, text } => {
            cmd::send::send(home, &alias, &cmd::message_text(text)?).await
        }
        Command::Status { envelope_id } => cmd::status::status(home, &envelope_id).await,
        Command::SendFile { alias, path } => {
            cmd::files::send_file(home, &alias, false, &path).await
        }
        Command::Recv { wait, downloads } => {
            cmd::recv::recv(home, wait, cli.json, downloads.as_deref()).await
        }
        Command::Group { command } => match command {
            GroupCommand::Create { group } => cmd::group::create(home, &group),
            GroupCommand::Add {
                group,
                aliases,
                batch,
            } => cmd::group::add(home, &group, &aliases, batch).await,
            GroupCommand::Remove { group, aliases } => {
                cmd::group::remove(home, &group, &aliases).await
            }
            GroupCommand::Send { group, text } => {
                cmd::group::send(home, &group, &cmd::message_text(text)?).await
            }
            GroupCommand::SendFile { group, path } => {
                cmd::files::send_file(home, &group, true, &path).await
            }
            GroupCommand::List => cmd::group::list(home),
        },
        Command::Backup { file } => cmd::backup::backup(home, &file),
        Command::Restore { file, force } => cmd::backup::restore(home, &file, force).await,
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")
        .and_then(|rt| rt.block_on(run(cli)));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let line = format!("{e:#}").replace('\n', " ");
            eprintln!("hush: error: {line}");
            ExitCode::from(hush_cli::exit::code_of(&e))
        }
    }
}
