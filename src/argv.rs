//! What pyk does to its arguments before clap sees them: the original pyk's spellings
//! become commands, and `pyk run NAME`'s program arguments are kept from clap, so that
//! `--help` or `-q` after NAME reach the program. `pyk NAME args…`, the warm path, does not
//! reach clap at all: building pyk's whole command tree to find that NAME is no command
//! cost ~0.3 ms of the ~2 ms `pyk foo` adds to running the program directly.

use std::ffi::OsString;

use clap::{CommandFactory, FromArgMatches};

use crate::cli::{Cli, Command, GlobalArgs, COMMANDS};

/// Parses pyk's arguments (exits with clap's message on a bad one).
pub fn parse(args: Vec<OsString>) -> Cli {
    if let Some(cli) = program(&args) {
        return cli;
    }
    let (args, program_args) = split_run(original_spellings(args));
    let mut command = Cli::command();
    if command_index(&args).is_some_and(|i| args[i] == "--version" || args[i] == "-V") {
        // Leaked: clap keeps a `&'static str`, and the process prints it and exits.
        command = command.version(&*Box::leak(crate::version::with_floors().into_boxed_str()));
    }
    let mut cli = Cli::from_arg_matches(&command.get_matches_from(args))
        .unwrap_or_else(|e| e.format(&mut Cli::command()).exit());
    if let (Command::Run { args, .. }, Some(rest)) = (&mut cli.command, program_args) {
        *args = rest;
    }
    cli
}

/// `pyk [-q] [-v…] NAME args…` where NAME is no command and no option: what clap makes
/// `Command::External`, parsed without it. `None` for anything else (a global option given
/// twice too, which clap refuses).
fn program(args: &[OsString]) -> Option<Cli> {
    let i = command_index(args)?;
    let name = args[i].to_str()?;
    if name.starts_with('-') || COMMANDS.contains(&name) {
        return None;
    }
    let mut global = GlobalArgs {
        quiet: false,
        verbose: 0,
    };
    for arg in &args[1..i] {
        let flags = match arg.as_encoded_bytes() {
            b"--quiet" => &b"q"[..],
            b"--verbose" => b"v",
            [b'-', flags @ ..] => flags,
            _ => return None,
        };
        for flag in flags {
            match flag {
                b'q' if global.quiet => return None,
                b'q' => global.quiet = true,
                _ => global.verbose = global.verbose.saturating_add(1),
            }
        }
    }
    Some(Cli {
        global,
        command: Command::External(args[i..].to_vec()),
    })
}

/// The original pyk's `--build`, `--server`, `--install`, `--list` and `--remove` become
/// subcommands (after any global options).
fn original_spellings(mut args: Vec<OsString>) -> Vec<OsString> {
    let Some(i) = command_index(&args) else {
        return args;
    };
    let renamed = match args[i].to_str() {
        Some("--build") => "publish",
        Some("--server") => "serve",
        Some("--install") => "install",
        Some("--list") => "list",
        Some("--remove") => "remove",
        _ => return args,
    };
    args[i] = renamed.into();
    args
}

/// The index of the command word: the first argument that is not a global option.
fn command_index(args: &[OsString]) -> Option<usize> {
    args.iter()
        .skip(1)
        .position(|a| !is_global_option(a))
        .map(|i| i + 1)
}

/// `-q`, `--quiet`, `-v`, `-vv`…, `--verbose` (also as one cluster: `-qv`).
fn is_global_option(arg: &OsString) -> bool {
    match arg.as_encoded_bytes() {
        b"--quiet" | b"--verbose" => true,
        [b'-', flags @ ..] => !flags.is_empty() && flags.iter().all(|f| matches!(f, b'q' | b'v')),
        _ => false,
    }
}

/// `pyk run NAME ARGS…`: everything after NAME is the program's, `--help` and `-q`
/// included, exactly as for `pyk NAME ARGS…`. clap sees the arguments up to NAME; the rest
/// is returned apart, untouched.
fn split_run(mut args: Vec<OsString>) -> (Vec<OsString>, Option<Vec<OsString>>) {
    let Some(run) = command_index(&args).filter(|&i| args[i] == "run") else {
        return (args, None);
    };
    // NAME is the first word after `run` that is neither an option (`-q`, or `-h` for
    // help) nor the value of `--argv0`.
    let mut name = None;
    let mut i = run + 1;
    while i < args.len() {
        match args[i].as_encoded_bytes() {
            b"--argv0" => i += 2,
            a if a.starts_with(b"-") => i += 1,
            _ => {
                name = Some(i);
                break;
            }
        }
    }
    match name {
        Some(name) => {
            let rest = args.split_off(name + 1);
            (args, Some(rest))
        }
        None => (args, None),
    }
}

#[cfg(test)]
mod tests {
    use std::ffi::OsString;

    use clap::Parser;

    use super::*;

    fn words(line: &str) -> Vec<OsString> {
        line.split(' ').map(OsString::from).collect()
    }

    /// What a parse made of a program's run: quiet, verbose, the external command's words.
    type Seen = Option<(bool, u8, Vec<OsString>)>;

    /// What clap makes of `line` and what [`program`] does, side by side.
    fn both(line: &str) -> (Seen, Seen) {
        let seen = |cli: Cli| match cli.command {
            Command::External(words) => Some((cli.global.quiet, cli.global.verbose, words)),
            _ => None,
        };
        let clap = Cli::try_parse_from(words(line)).ok().and_then(seen);
        (clap, program(&words(line)).and_then(seen))
    }

    #[test]
    fn a_program_is_parsed_as_clap_would() {
        for line in [
            "pyk hello",
            "pyk hello --help -q -v",
            "pyk -q hello a b",
            "pyk -vv --quiet hello x",
            "pyk -qv --verbose hello",
            "pyk -v hello@1.2 --version",
        ] {
            let (clap, fast) = both(line);
            assert!(fast.is_some(), "{line}");
            assert_eq!(clap, fast, "{line}");
        }
        // Commands, options and what clap refuses go to clap.
        for line in [
            "pyk build",
            "pyk -q help",
            "pyk --help",
            "pyk -V",
            "pyk -q -q hello",
        ] {
            assert!(program(&words(line)).is_none(), "{line}");
        }
        assert!(program(&words("pyk")).is_none());
    }

    #[test]
    fn every_command_is_known_without_clap() {
        let cli = Cli::command();
        let mut names: Vec<&str> = cli
            .get_subcommands()
            .flat_map(|c| std::iter::once(c.get_name()).chain(c.get_all_aliases()))
            .chain(["help"])
            .collect();
        names.sort_unstable();
        let mut known = COMMANDS.to_vec();
        known.sort_unstable();
        assert_eq!(names, known);
    }

    #[test]
    fn run_keeps_the_program_arguments_apart() {
        let (clap, rest) = split_run(words("pyk -q run --argv0 x foo --help -q --argv0"));
        assert_eq!(clap, words("pyk -q run --argv0 x foo"));
        assert_eq!(rest, Some(words("--help -q --argv0")));
        let (clap, rest) = split_run(words("pyk run --help"));
        assert_eq!((clap, rest), (words("pyk run --help"), None));
        let (clap, rest) = split_run(words("pyk build run"));
        assert_eq!((clap, rest), (words("pyk build run"), None));
    }

    #[test]
    fn original_spellings_follow_global_options() {
        assert_eq!(
            original_spellings(words("pyk -q --list")),
            words("pyk -q list")
        );
        assert_eq!(
            original_spellings(words("pyk --remove foo")),
            words("pyk remove foo")
        );
        assert_eq!(
            original_spellings(words("pyk foo --list")),
            words("pyk foo --list")
        );
        assert_eq!(
            original_spellings(words("pyk -vv -q --verbose -qv --list")),
            words("pyk -vv -q --verbose -qv list")
        );
        let (clap, rest) = split_run(words("pyk -v run foo -v"));
        assert_eq!((clap, rest), (words("pyk -v run foo"), Some(words("-v"))));
        // `-` alone, or another option, is no global option.
        assert_eq!(command_index(&words("pyk -x --list")), Some(1));
        assert_eq!(command_index(&words("pyk - --list")), Some(1));
    }
}
