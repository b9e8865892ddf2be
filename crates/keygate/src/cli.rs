//! The command line, exactly as DESIGN.md "CLI" specifies it.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// Many role-limited API credentials in front of one WHMCS admin API.
#[derive(Debug, Parser)]
#[command(name = "keygate", version, about, propagate_version = true)]
pub struct Cli {
    /// Database URL: sqlite://FILE (created if missing) or postgres://…
    #[arg(long, global = true, env = "KEYGATE_DATABASE_URL", value_name = "URL")]
    pub database_url: Option<String>,
    /// Configuration file [default: keygate.toml when present]
    #[arg(long, global = true, env = "KEYGATE_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Print machine-readable JSON instead of text
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    pub command: Command,
}

/// Top-level commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the gateway, the sidecar API and the admin web UI
    Serve,
    /// Manage admins (they own credentials and log in to the web UI)
    #[command(subcommand)]
    Admin(AdminCommand),
    /// Manage API roles (sets of allowed API actions)
    #[command(subcommand)]
    Role(RoleCommand),
    /// Manage API credentials (identifier + secret holding roles)
    #[command(subcommand)]
    Credential(CredentialCommand),
    /// List the API actions roles can allow
    Actions {
        /// Only this category
        #[arg(long)]
        category: Option<String>,
    },
    /// Show the audit trail of management changes, newest first (`audit verify` checks it)
    Audit(AuditArgs),
    /// Write everything (admins, roles, credentials, with their hashes) as JSON to stdout
    Export,
    /// Load an export into an empty database
    Import {
        /// The export file (`-`: standard input)
        file: PathBuf,
    },
    /// Copy this database into another, empty one (e.g. SQLite to PostgreSQL)
    Migrate {
        /// Database URL to copy into: postgres://… or sqlite://FILE
        #[arg(long, value_name = "URL")]
        to: String,
    },
    /// Print a shell completion script
    Completions {
        /// The shell
        shell: Shell,
    },
    /// Print the man page (roff) to stdout
    Man,
}

/// Shells `keygate completions` writes for.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum Shell {
    /// GNU bash
    Bash,
    /// Z shell
    Zsh,
    /// fish
    Fish,
}

/// `keygate audit [--since WHEN] [--actor NAME] [--target ID] [--limit N]`
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct AuditArgs {
    /// `keygate audit verify`
    #[command(subcommand)]
    pub command: Option<AuditCommand>,
    /// Only events since WHEN: RFC 3339 (2027-01-31T00:00:00Z) or a duration ago (24h, 7d)
    #[arg(long, value_name = "WHEN")]
    pub since: Option<String>,
    /// Only changes by this actor (an admin's username, or cli:USER)
    #[arg(long, value_name = "NAME")]
    pub actor: Option<String>,
    /// Only events about this credential identifier, role id or name, or admin
    #[arg(long, value_name = "ID")]
    pub target: Option<String>,
    /// Show at most N events
    #[arg(long, value_name = "N", default_value_t = 50,
          value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub limit: u32,
}

/// `keygate audit …` subcommands.
#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Check the hash chain: exit 1 naming the first broken event
    Verify,
}

/// `keygate admin …`
#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Add an admin (prompts for the password unless --password-stdin)
    Add {
        /// Username
        user: String,
        /// Read the password from the first line of standard input
        #[arg(long)]
        password_stdin: bool,
    },
    /// List admins
    List,
    /// Change an admin's password (its credentials stay valid)
    Passwd {
        /// Username
        user: String,
        /// Read the password from the first line of standard input
        #[arg(long)]
        password_stdin: bool,
    },
    /// Disable an admin: its credentials stop working until enabled again
    Disable {
        /// Username
        user: String,
    },
    /// Enable a disabled admin: its credentials work again
    Enable {
        /// Username
        user: String,
    },
    /// Remove an admin and delete all its credentials
    Remove {
        /// Username
        user: String,
    },
    /// Manage admin API tokens for the management API (/api/v1)
    #[command(subcommand)]
    Token(TokenCommand),
}

/// `keygate admin token …`
#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Make a token acting as USER (printed once: kgat_…)
    Create {
        /// The admin the token acts as
        user: String,
        /// What uses it (free text)
        #[arg(long, default_value = "")]
        description: String,
        /// When it stops working: RFC 3339 (2027-01-31T00:00:00Z) or a duration from now (90d)
        #[arg(long, value_name = "WHEN")]
        expires: Option<String>,
    },
    /// List tokens (never the tokens themselves), all or one admin's
    List {
        /// Only this admin's tokens
        user: Option<String>,
    },
    /// Revoke a token: refused from the next call on
    Revoke {
        /// The token's id (from `admin token list`)
        id: i64,
    },
}

/// Actions and categories to allow or revoke.
#[derive(Debug, Args, Default)]
pub struct ActionArgs {
    /// Allow an action (repeatable)
    #[arg(long = "allow", value_name = "ACTION")]
    pub allow: Vec<String>,
    /// Allow every action of a category (repeatable)
    #[arg(long = "allow-category", value_name = "CATEGORY")]
    pub allow_category: Vec<String>,
}

/// `keygate role …`
#[derive(Debug, Subcommand)]
pub enum RoleCommand {
    /// Create a role
    Create {
        /// Role name (unique, case-insensitive)
        name: String,
        /// Description
        #[arg(long)]
        description: Option<String>,
        #[command(flatten)]
        actions: ActionArgs,
    },
    /// List roles
    List,
    /// Show a role and its allowed actions
    Show {
        /// Role name
        name: String,
    },
    /// Edit a role's name, description or actions
    Edit {
        /// Role name
        name: String,
        /// New name
        #[arg(long = "name", value_name = "NEW")]
        new_name: Option<String>,
        /// New description
        #[arg(long)]
        description: Option<String>,
        #[command(flatten)]
        actions: ActionArgs,
        /// Revoke an action (repeatable)
        #[arg(long = "revoke", value_name = "ACTION")]
        revoke: Vec<String>,
        /// Revoke every action of a category (repeatable)
        #[arg(long = "revoke-category", value_name = "CATEGORY")]
        revoke_category: Vec<String>,
    },
    /// Delete a role (unassigns it from every credential)
    Delete {
        /// Role name
        name: String,
    },
}

/// `keygate credential …`
#[derive(Debug, Subcommand)]
pub enum CredentialCommand {
    /// Generate a credential; the secret is printed once
    Generate {
        /// Owning admin
        #[arg(long)]
        admin: String,
        /// Description
        #[arg(long)]
        description: Option<String>,
        /// Role to assign (repeatable)
        #[arg(long = "role", value_name = "NAME")]
        roles: Vec<String>,
        /// Expiry: RFC 3339 (2027-01-31T00:00:00Z) or a duration from now (90m, 12h, 30d)
        #[arg(long, value_name = "WHEN")]
        expires: Option<String>,
        /// Only accept calls from this network or address (repeatable) [default: any address]
        #[arg(long = "allow-ip", value_name = "CIDR")]
        allow_ips: Vec<String>,
        /// Calls allowed per second, minute or hour: N/s, N/m or N/h [default: the server's]
        #[arg(long, value_name = "N/s|N/m|N/h")]
        rate_limit: Option<String>,
        /// Bind to this WHMCS client id: only its data (repeatable) [default: not scoped]
        #[arg(long = "client", value_name = "ID")]
        clients: Vec<String>,
    },
    /// List credentials (never their secrets)
    List {
        /// Only this admin's
        #[arg(long)]
        admin: Option<String>,
    },
    /// Show a credential (never its secret)
    Show {
        /// Identifier
        identifier: String,
    },
    /// Edit a credential's description, roles, expiry, IP allowlist, rate limit or client scope
    Edit {
        /// Identifier
        identifier: String,
        /// New description
        #[arg(long)]
        description: Option<String>,
        /// Replace the roles with these (repeatable)
        #[arg(long = "role", value_name = "NAME", conflicts_with = "no_roles")]
        roles: Vec<String>,
        /// Remove every role
        #[arg(long)]
        no_roles: bool,
        /// New expiry: RFC 3339 (2027-01-31T00:00:00Z) or a duration from now (90m, 12h, 30d)
        #[arg(long, value_name = "WHEN", conflicts_with = "no_expiry")]
        expires: Option<String>,
        /// Remove the expiry
        #[arg(long)]
        no_expiry: bool,
        /// Replace the IP allowlist with these networks or addresses (repeatable)
        #[arg(long = "allow-ip", value_name = "CIDR", conflicts_with = "any_ip")]
        allow_ips: Vec<String>,
        /// Remove the IP allowlist: calls from any address
        #[arg(long)]
        any_ip: bool,
        /// New rate limit: N/s, N/m or N/h
        #[arg(long, value_name = "RATE", conflicts_with = "no_rate_limit")]
        rate_limit: Option<String>,
        /// Remove the rate limit: the server's default applies
        #[arg(long)]
        no_rate_limit: bool,
        /// Replace the client scope with these WHMCS client ids (repeatable)
        #[arg(long = "client", value_name = "ID", conflicts_with = "no_client")]
        clients: Vec<String>,
        /// Remove the client scope: any client's data
        #[arg(long)]
        no_client: bool,
    },
    /// Disable a credential: it stops working until enabled again
    Disable {
        /// Identifier
        identifier: String,
    },
    /// Enable a disabled credential: it works again
    Enable {
        /// Identifier
        identifier: String,
    },
    /// Give a credential a new secret, printed once; the old one keeps working for the overlap
    Rotate {
        /// Identifier
        identifier: String,
        /// How long the old secret keeps working (e.g. 30m, 24h, 7d; 0: it stops now)
        #[arg(long, value_name = "DURATION", default_value = "24h")]
        overlap: String,
    },
    /// Delete a credential; it stops working at once
    Delete {
        /// Identifier
        identifier: String,
    },
    /// Calls per action over the last days: allowed, and denied by reason
    Usage {
        /// Identifier
        identifier: String,
        /// How many days back, up to now (1 to 3650)
        #[arg(long, value_name = "N", default_value_t = 30)]
        days: u32,
    },
    /// Suggest a least-privilege role of exactly the actions used; --apply assigns it
    Tighten {
        /// Identifier
        identifier: String,
        /// How many days of usage to base it on (1 to 3650)
        #[arg(long, value_name = "N", default_value_t = 30)]
        days: u32,
        /// Create the role and assign it in place of the credential's roles
        #[arg(long)]
        apply: bool,
    },
    /// Import a legacy full-access credential (gets the Compatibility Role)
    Import {
        /// Owning admin
        #[arg(long)]
        admin: String,
        /// The legacy identifier
        #[arg(long)]
        identifier: String,
        /// Read the secret from the first line of standard input
        #[arg(long, required = true)]
        secret_stdin: bool,
        /// Description
        #[arg(long)]
        description: Option<String>,
    },
}
