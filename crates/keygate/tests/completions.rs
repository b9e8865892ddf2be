//! `keygate completions bash|zsh|fish` and `keygate man`, run from the built
//! binary: the scripts load in their shells and complete every command
//! `keygate --help` lists, and the man page is valid roff covering every
//! command. A shell or `groff`/`man` that is not installed skips its part
//! with a notice (bash is always there on Debian; zsh and fish are optional).

mod common;

use std::path::Path;
use std::process::{Command, Stdio};

use common::keygate_bin;

/// Runs `keygate ARGS` in `cwd` without any KEYGATE_ variable; asserts
/// success and returns stdout.
fn keygate(cwd: &Path, args: &[&str]) -> String {
    let mut command = Command::new(keygate_bin());
    command.current_dir(cwd).args(args);
    for (key, _) in std::env::vars() {
        if key.starts_with("KEYGATE_") {
            command.env_remove(key);
        }
    }
    let out = command.output().expect("run keygate");
    assert!(
        out.status.success(),
        "keygate {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8 output")
}

/// The names under "Commands:" in a `--help` text, without `help`.
fn listed_commands(help: &str) -> Vec<String> {
    help.lines()
        .skip_while(|line| line.trim() != "Commands:")
        .skip(1)
        .take_while(|line| !line.trim().is_empty())
        .filter_map(|line| line.split_whitespace().next())
        .filter(|name| *name != "help")
        .map(str::to_string)
        .collect()
}

/// Every command as its words: `["serve"]`, `["admin", "add"]`, … read from
/// the binary's own `--help`, so a new command is checked without touching
/// this test. Groups (`admin`, `role`, `credential`) come with their
/// subcommands, not alone.
fn all_commands(cwd: &Path) -> Vec<Vec<String>> {
    let mut commands = Vec::new();
    for top in listed_commands(&keygate(cwd, &["--help"])) {
        let subs = listed_commands(&keygate(cwd, &[&top, "--help"]));
        if subs.is_empty() {
            commands.push(vec![top]);
            continue;
        }
        for sub in subs {
            // A group inside a group (`admin token …`): its commands too.
            let nested = listed_commands(&keygate(cwd, &[&top, &sub, "--help"]));
            commands.push(vec![top.clone(), sub.clone()]);
            commands.extend(
                nested
                    .into_iter()
                    .map(|leaf| vec![top.clone(), sub.clone(), leaf]),
            );
        }
    }
    assert!(
        commands.len() > 20,
        "expected keygate's commands, parsed {commands:?}"
    );
    commands
}

/// The command groups and the subcommands each lists.
fn groups(commands: &[Vec<String>]) -> Vec<(String, Vec<String>)> {
    let mut groups: Vec<(String, Vec<String>)> = Vec::new();
    for words in commands.iter().filter(|words| words.len() == 2) {
        match groups.iter_mut().find(|(group, _)| *group == words[0]) {
            Some((_, subs)) => subs.push(words[1].clone()),
            None => groups.push((words[0].clone(), vec![words[1].clone()])),
        }
    }
    groups
}

fn top_level(commands: &[Vec<String>]) -> Vec<String> {
    let mut names: Vec<String> = commands.iter().map(|words| words[0].clone()).collect();
    names.dedup();
    names
}

fn installed(program: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

/// Runs `program ARGS`; asserts success; returns stdout.
fn run(program: &str, args: &[&str]) -> String {
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program}: {e}"));
    assert!(
        out.status.success(),
        "{program} {args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The script `keygate completions SHELL` prints, saved in `dir`.
fn script(dir: &Path, shell: &str) -> (std::path::PathBuf, String) {
    let text = keygate(dir, &["completions", shell]);
    assert!(!text.trim().is_empty(), "empty {shell} completions");
    let path = dir.join(format!("keygate.{shell}"));
    std::fs::write(&path, &text).unwrap();
    (path, text)
}

/// Lines of one `== name` block of a script's output.
fn block<'a>(output: &'a str, name: &str) -> Vec<&'a str> {
    output
        .lines()
        .skip_while(|line| *line != format!("== {name}"))
        .skip(1)
        .take_while(|line| !line.starts_with("== "))
        .collect()
}

#[test]
fn completions_and_man_need_no_configuration() {
    // Generated on a build host: a broken keygate.toml in the current
    // directory or an unusable database must not matter.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("keygate.toml"), "no_such_key = [").unwrap();
    for args in [&["completions", "bash"][..], &["man"][..]] {
        let out = Command::new(keygate_bin())
            .current_dir(dir.path())
            .args(args)
            .env("KEYGATE_DATABASE_URL", "mysql://nowhere")
            .output()
            .unwrap();
        assert!(
            out.status.success() && !out.stdout.is_empty(),
            "keygate {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn bash_completion_loads_and_completes_every_command() {
    if !installed("bash") {
        eprintln!("SKIPPED: bash is not installed");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let commands = all_commands(dir.path());
    let (path, _) = script(dir.path(), "bash");
    run("bash", &["-n", path.to_str().unwrap()]);

    // Source it as bash-completion would, then call the function
    // `complete -p keygate` names the way readline does.
    let mut test = String::from(
        r#"set -u
source "$1"
spec=$(complete -p keygate)
echo "== spec"
echo "$spec"
function=$(sed -n 's/.* -F \([^ ]*\) .*/\1/p' <<<"$spec")
words() {
    COMP_WORDS=("$@")
    COMP_CWORD=$(( ${#COMP_WORDS[@]} - 1 ))
    COMP_LINE="$*"
    COMP_POINT=${#COMP_LINE}
    COMPREPLY=()
    "$function" keygate "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
    printf '%s\n' "${COMPREPLY[@]}"
}
echo "== top"; words keygate ""
echo "== rot"; words keygate credential ro
echo "== admin-option"; words keygate credential generate --ad
echo "== shells"; words keygate completions ""
"#,
    );
    let groups = groups(&commands);
    for (group, _) in &groups {
        test.push_str(&format!(
            "echo \"== {group}\"; words keygate {group} \"\"\n"
        ));
    }
    let output = run("bash", &["-c", &test, "bash", path.to_str().unwrap()]);

    let spec = block(&output, "spec");
    assert!(
        spec.len() == 1 && spec[0].contains(" -F ") && spec[0].ends_with(" keygate"),
        "complete -p keygate: {spec:?}"
    );
    let top = block(&output, "top");
    for name in top_level(&commands) {
        assert!(top.contains(&name.as_str()), "{name} not offered: {top:?}");
    }
    assert_eq!(block(&output, "rot"), ["rotate"], "{output}");
    assert_eq!(block(&output, "admin-option"), ["--admin"], "{output}");
    let shells = block(&output, "shells");
    for shell in ["bash", "zsh", "fish"] {
        assert!(shells.contains(&shell), "{shell} not offered: {shells:?}");
    }
    for (group, subs) in &groups {
        let offered = block(&output, group);
        for sub in subs {
            assert!(
                offered.contains(&sub.as_str()),
                "keygate {group} {sub} not offered: {offered:?}"
            );
        }
    }
}

#[test]
fn zsh_completion_names_every_command() {
    let dir = tempfile::tempdir().unwrap();
    let commands = all_commands(dir.path());
    let (path, text) = script(dir.path(), "zsh");
    assert!(text.starts_with("#compdef keygate"), "{text}");
    for words in &commands {
        let name = words.last().unwrap();
        assert!(
            text.contains(&format!("'{name}:")),
            "{words:?} missing from the zsh completions"
        );
    }
    if installed("zsh") {
        run("zsh", &["-n", path.to_str().unwrap()]);
    } else {
        eprintln!("SKIPPED: zsh is not installed: no syntax check of the zsh completions");
    }
}

#[test]
fn fish_completion_completes_every_command() {
    let dir = tempfile::tempdir().unwrap();
    let commands = all_commands(dir.path());
    let (path, text) = script(dir.path(), "fish");
    assert!(text.contains("complete -c keygate"), "{text}");
    for words in &commands {
        let name = words.last().unwrap();
        assert!(
            text.contains(&format!("-a \"{name}\"")),
            "{words:?} missing from the fish completions"
        );
    }
    if !installed("fish") {
        eprintln!("SKIPPED: fish is not installed: the fish completions were not loaded");
        return;
    }
    run("fish", &["--no-execute", path.to_str().unwrap()]);
    // `complete -C` completes a command line the way the prompt would.
    let source = format!("source {}", path.display());
    let complete = |line: &str| -> Vec<String> {
        run(
            "fish",
            &[
                "--no-config",
                "-c",
                &format!("{source}; complete -C '{line}'"),
            ],
        )
        .lines()
        .map(|line| line.split('\t').next().unwrap_or_default().to_string())
        .collect()
    };
    let top = complete("keygate ");
    for name in top_level(&commands) {
        assert!(top.contains(&name), "{name} not offered: {top:?}");
    }
    assert_eq!(complete("keygate credential ro"), ["rotate"]);
    for (group, subs) in groups(&commands) {
        let offered = complete(&format!("keygate {group} "));
        for sub in subs {
            assert!(
                offered.contains(&sub),
                "keygate {group} {sub} not offered: {offered:?}"
            );
        }
    }
}

#[test]
fn man_page_is_roff_covering_every_command() {
    let dir = tempfile::tempdir().unwrap();
    let commands = all_commands(dir.path());
    let page = keygate(dir.path(), &["man"]);
    assert!(page.is_ascii(), "non-ASCII is escaped for any locale");
    assert!(
        page.lines()
            .any(|line| line.starts_with(".TH KEYGATE 1 ") && line.contains("keygate ")),
        "{page}"
    );
    for section in [
        "NAME",
        "SYNOPSIS",
        "DESCRIPTION",
        "OPTIONS",
        "COMMANDS",
        "FILES",
    ] {
        assert!(
            page.lines().any(|line| line == format!(".SH {section}")),
            "no {section} section"
        );
    }
    let is_group = |words: &Vec<String>| {
        commands
            .iter()
            .any(|other| other.len() > words.len() && other.starts_with(words))
    };
    for words in commands.iter().filter(|words| !is_group(words)) {
        let heading = format!(".SS \"keygate {}\"", words.join(" "));
        assert!(page.contains(&heading), "{heading} missing");
    }
    // A command that also has subcommands (`audit` and `audit verify`).
    assert!(
        page.contains(".SS \"keygate audit\""),
        "keygate audit missing"
    );
    // Options of a subcommand, and the global ones once.
    assert!(page.contains("\\-\\-allow\\-ip"), "credential options");
    assert_eq!(page.matches("\\fB\\-\\-database\\-url\\fR \\fI").count(), 1);

    let path = dir.path().join("keygate.1");
    std::fs::write(&path, &page).unwrap();
    if installed("groff") {
        // -ww: every warning; the page must produce none.
        let out = Command::new("groff")
            .args(["-man", "-Tutf8", "-ww", "-z"])
            .arg(&path)
            .output()
            .unwrap();
        assert!(
            out.status.success() && out.stderr.is_empty(),
            "groff: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    } else {
        eprintln!("SKIPPED: groff is not installed: the man page was not typeset");
    }
    if installed("man") {
        let out = Command::new("man")
            .arg("-l")
            .arg(&path)
            .env("MANPAGER", "cat")
            .env("MANWIDTH", "100")
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        // Only typesetting removes the roff: no requests left, the
        // commands' headings readable.
        assert!(text.contains("KEYGATE(1)"), "{text}");
        assert!(text.contains("keygate credential rotate"), "{text}");
        assert!(!text.contains(".SS"), "{text}");
    } else {
        eprintln!("SKIPPED: man is not installed: the man page was not displayed");
    }
}
