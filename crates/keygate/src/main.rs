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

// mimalloc's own entry points (linked in with the allocator above).
extern "C" {
    fn mi_collect(force: bool);
    fn mi_option_set(option: std::ffi::c_int, value: std::ffi::c_long);
}

/// `mi_option_allow_large_os_pages` in mimalloc's `mi_option_e` (v2 and v3).
const MI_OPTION_ALLOW_LARGE_OS_PAGES: std::ffi::c_int = 6;

/// Lets mimalloc ask for transparent huge pages (`MADV_HUGEPAGE`) on its
/// OS memory. A full build writes a 256 MB slot table at a million
/// credentials; faulted in 2 MiB at a time instead of 4 KiB, start-up
/// measured 12 % shorter (docs/benchmarks.md). Where the kernel has THP
/// off, the advice is ignored.
fn allow_large_pages() {
    // SAFETY: `mi_option_set` only stores the value, read when mimalloc
    // next asks the OS for memory; called first thing in main, before the
    // snapshot's allocations it is meant for.
    unsafe { mi_option_set(MI_OPTION_ALLOW_LARGE_OS_PAGES, 1) }
}

/// Frees what this thread's mimalloc heap holds empty, and purges it.
fn release_freed_memory() {
    // SAFETY: mimalloc is linked in (the global allocator above) and
    // `mi_collect` may be called from any thread at any time.
    unsafe { mi_collect(true) }
}

fn main() -> ExitCode {
    allow_large_pages();
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
