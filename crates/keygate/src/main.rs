//! `keygate`: the one binary. Parses the command line, loads configuration,
//! opens the database and hands over to a command. Errors become one
//! `error:` line on stderr and exit status 1 (clap uses 2 for usage errors).

mod cli;
mod commands;
mod config;
mod output;
mod when;

use std::process::ExitCode;

use clap::Parser;

/// mimalloc: the request path allocates small buffers constantly, and
/// glibc's malloc showed up as a tenth of the gateway's profile.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

// mimalloc's own entry point (linked in with the allocator above).
extern "C" {
    fn mi_collect(force: bool);
}

/// Frees what this thread's mimalloc heap holds empty, and purges it.
fn release_freed_memory() {
    // SAFETY: mimalloc is linked in (the global allocator above) and
    // `mi_collect` may be called from any thread at any time.
    unsafe { mi_collect(true) }
}

fn main() -> ExitCode {
    restore_sigpipe();
    keygate_server::live::set_after_full_build(release_freed_memory);
    let cli = cli::Cli::parse();
    let runtime = match runtime_builder().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => return fail(&anyhow::anyhow!("cannot start the async runtime: {e}")),
    };
    match runtime.block_on(commands::run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(&e),
    }
}

/// One CPU (a container limit, or `taskset`): a single-threaded runtime
/// saves the cross-thread wake-ups; otherwise one worker per CPU.
fn runtime_builder() -> tokio::runtime::Builder {
    match std::thread::available_parallelism().map_or(1, |n| n.get()) {
        1 => tokio::runtime::Builder::new_current_thread(),
        _ => tokio::runtime::Builder::new_multi_thread(),
    }
}

fn fail(error: &anyhow::Error) -> ExitCode {
    // One line, whatever the cause chain looks like.
    let message = format!("{error:#}").replace('\n', " ");
    eprintln!("error: {message}");
    ExitCode::from(1)
}

/// Rust ignores SIGPIPE, so `keygate actions | head` would fail printing;
/// the default disposition ends the process quietly like other CLI tools.
fn restore_sigpipe() {
    #[cfg(unix)]
    // SAFETY: called first thing in main, before any other thread exists.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}
