//! `keygate completions SHELL` and `keygate man`, generated from the clap
//! definition so they never drift from the real command line.
//!
//! The man page is one page, `keygate(1)`: SYNOPSIS and the global
//! OPTIONS rendered by clap_mangen, a COMMANDS section with every command's
//! description, synopsis and own options (clap_mangen's sections for each,
//! as subsections), then hand-written DESCRIPTION, FILES, ENVIRONMENT and
//! SIGNALS. One page is what `man keygate` finds and what
//! `keygate man | man -l -` shows; no per-command pages to keep in step.

use std::io::Write;

use clap::CommandFactory;

use crate::cli::{Cli, Shell};

/// Prints the completion script for `shell`.
pub fn completions(shell: Shell) -> anyhow::Result<()> {
    let shell = match shell {
        Shell::Bash => clap_complete::Shell::Bash,
        Shell::Zsh => clap_complete::Shell::Zsh,
        Shell::Fish => clap_complete::Shell::Fish,
    };
    let mut command = Cli::command();
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut command, "keygate", &mut out);
    write_stdout(&out)
}

/// Prints the man page (roff).
pub fn man() -> anyhow::Result<()> {
    write_stdout(&man_page()?)
}

fn write_stdout(bytes: &[u8]) -> anyhow::Result<()> {
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(bytes)?;
    stdout.flush()?;
    Ok(())
}

/// The whole man page.
fn man_page() -> std::io::Result<Vec<u8>> {
    let mut command = Cli::command().disable_help_subcommand(true);
    // Builds every subcommand too: global options are propagated and each
    // gets its full bin name ("keygate admin add") for the synopses.
    command.build();
    let version = command.get_version().unwrap_or_default().to_string();
    let page = clap_mangen::Man::new(command.clone().subcommand_value_name("COMMAND"));
    let mut out = Vec::new();
    // By hand: clap_mangen drops an empty date, which shifts the footer.
    writeln!(
        out,
        ".TH KEYGATE 1 \"\" \"keygate {}\" \"User Commands\"",
        roff_quoted(&version)
    )?;
    out.extend_from_slice(NAME_SECTION.as_bytes());
    page.render_synopsis_section(&mut out)?;
    out.extend_from_slice(DESCRIPTION.as_bytes());
    page.render_options_section(&mut out)?;
    out.extend_from_slice(b".SH COMMANDS\n");
    out.extend_from_slice(
        b"The options above are accepted by every command. \
          Every command also takes \\fB\\-h\\fR, \\fB\\-\\-help\\fR.\n",
    );
    for sub in command.get_subcommands() {
        render_command(sub, &mut out)?;
    }
    out.extend_from_slice(EXTRA_SECTIONS.as_bytes());
    Ok(tidy(&out))
}

/// Every clap_mangen render starts with the same two lines defining the
/// `Aq` string: one copy, at the top, is enough. Non-ASCII characters
/// (the help's `…`) become groff's `\[uXXXX]` escapes, so the page reads
/// the same whatever locale `man` runs in.
fn tidy(page: &[u8]) -> Vec<u8> {
    const PREAMBLE: [&str; 2] = [".ie \\n(.g .ds Aq \\(aq", ".el .ds Aq '"];
    let text = String::from_utf8_lossy(page);
    let mut out = format!("{}\n{}\n", PREAMBLE[0], PREAMBLE[1]);
    for line in text.lines().filter(|line| !PREAMBLE.contains(line)) {
        for c in line.chars() {
            if c.is_ascii() {
                out.push(c);
            } else {
                out.push_str(&format!("\\[u{:04X}]", u32::from(c)));
            }
        }
        out.push('\n');
    }
    out.into_bytes()
}

/// One command in the COMMANDS section: a subsection with its description,
/// synopsis and own options; a group (`admin`, …) is its subcommands.
fn render_command(command: &clap::Command, out: &mut Vec<u8>) -> std::io::Result<()> {
    if command.is_hide_set() {
        return Ok(());
    }
    if command.has_subcommands() {
        // A command that runs on its own too (`audit`, besides `audit
        // verify`) gets its own subsection first.
        if command.is_args_conflicts_with_subcommands_set() {
            render_leaf(command, out)?;
        }
        for sub in command.get_subcommands() {
            render_command(sub, out)?;
        }
        return Ok(());
    }
    render_leaf(command, out)
}

/// The subsection of one command: description, synopsis, own options.
fn render_leaf(command: &clap::Command, out: &mut Vec<u8>) -> std::io::Result<()> {
    // Leave out what the top-level OPTIONS already describe.
    let own = command.clone().mut_args(|arg| {
        let shared = arg.is_global_set() || matches!(arg.get_id().as_str(), "help" | "version");
        if shared {
            arg.hide(true)
        } else {
            arg
        }
    });
    let bin_name = own.get_bin_name().unwrap_or(own.get_name()).to_string();
    let has_options = own.get_arguments().any(|arg| !arg.is_hide_set());
    let page = clap_mangen::Man::new(own);
    writeln!(out, ".SS \"{}\"", roff_quoted(&bin_name))?;
    strip_heading(|w| page.render_description_section(w), out)?;
    out.extend_from_slice(b".PP\n");
    strip_heading(|w| page.render_synopsis_section(w), out)?;
    if has_options {
        strip_heading(|w| page.render_options_section(w), out)?;
    }
    Ok(())
}

/// Renders one clap_mangen section without its `.SH` line (it becomes part
/// of a subsection).
fn strip_heading(
    render: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
    out: &mut Vec<u8>,
) -> std::io::Result<()> {
    let mut section = Vec::new();
    render(&mut section)?;
    let text = String::from_utf8_lossy(&section);
    for line in text.lines().filter(|line| !line.starts_with(".SH ")) {
        out.extend_from_slice(line.as_bytes());
        out.push(b'\n');
    }
    Ok(())
}

/// Text for a double-quoted macro argument.
fn roff_quoted(text: &str) -> String {
    text.replace('\\', "\\e").replace('"', "\\(dq")
}

/// NAME: clap's `about` is the crate description, which repeats the name.
const NAME_SECTION: &str = ".SH NAME
keygate \\- many role\\-limited API credentials in front of one WHMCS admin API
";

/// DESCRIPTION, by hand.
const DESCRIPTION: &str = r#".SH DESCRIPTION
\fBkeygate\fR hands out many API credentials (an identifier and a secret),
each limited by its API roles to the WHMCS admin API actions it needs, and
holds the one master credential itself. \fBkeygate serve\fR runs the
gateway (clients call it as they would call WHMCS's
\fIincludes/api.php\fR), the sidecar API (\fBPOST /v1/authorize\fR), the
admin web UI (\fI/admin/\fR), \fI/healthz\fR and the Prometheus
\fI/metrics\fR. The other commands manage admins, roles and credentials
in the same database, also while a server runs.
.PP
Settings come from the command line, then the environment, then the
configuration file, then the defaults.
"#;

/// Hand-written sections: what clap does not know.
const EXTRA_SECTIONS: &str = r#".SH FILES
.TP
\fIkeygate.toml\fR
Read from the current directory when present and no \fB\-\-config\fR or
\fBKEYGATE_CONFIG\fR names another file.
.TP
\fI/etc/keygate/keygate.toml\fR
The configuration of the Debian package's \fBkeygate.service\fR.
.TP
\fI/var/lib/keygate/keygate.db\fR
The Debian package's SQLite database (\fBsqlite:///var/lib/keygate/keygate.db\fR).
.SH ENVIRONMENT
.TP
\fBKEYGATE_CONFIG\fR, \fBKEYGATE_DATABASE_URL\fR
As \fB\-\-config\fR and \fB\-\-database\-url\fR.
.TP
\fBKEYGATE_LISTEN\fR
The address \fBserve\fR listens on (default 127.0.0.1:8080).
.TP
\fBKEYGATE_UPSTREAM_URL\fR, \fBKEYGATE_UPSTREAM_IDENTIFIER\fR, \fBKEYGATE_UPSTREAM_SECRET\fR, \fBKEYGATE_UPSTREAM_ACCESSKEY\fR
The WHMCS admin API keygate forwards allowed calls to.
.TP
\fBKEYGATE_TRUSTED_PROXIES\fR, \fBKEYGATE_RATE_LIMIT_DEFAULT\fR, \fBKEYGATE_RATE_LIMIT_REDIS_URL\fR, \fBKEYGATE_FAILED_AUTH_PER_MINUTE\fR, \fBKEYGATE_USAGE_ENABLED\fR, \fBKEYGATE_USAGE_RETENTION_DAYS\fR
Override the configuration file's keys of the same names.
.SH SIGNALS
.TP
\fBSIGHUP\fR
\fBkeygate serve\fR reloads its configuration file; an invalid new
configuration is logged and the running one kept.
.SH "SEE ALSO"
\fBsystemctl\fR(1), \fBjournalctl\fR(1)
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_man_page_covers_every_leaf_command() {
        let page = String::from_utf8(man_page().unwrap()).unwrap();
        for name in [
            "keygate serve",
            "keygate admin add",
            "keygate role edit",
            "keygate credential rotate",
            "keygate completions",
            "keygate man",
        ] {
            assert!(page.contains(&format!(".SS \"{name}\"")), "{name}\n{page}");
        }
        assert!(!page.contains(".SS \"keygate help\""), "{page}");
    }
}
