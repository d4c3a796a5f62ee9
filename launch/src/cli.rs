//! The `launch` command line: `launch [OPTIONS] FILE [NAME=VALUE]...`.

use std::path::PathBuf;

/// Usage text for `launch --help`.
pub const HELP: &str = "\
launch: bring up and supervise a robot's nodes from a launch file

Usage: launch [OPTIONS] <FILE> [NAME=VALUE]...

Arguments:
  <FILE>          the launch file (TOML)
  [NAME=VALUE]    override an arg declared in [launch] args, e.g. speed=2.0;
                  built-in: duration=SECONDS stops the robot after that long

Options:
  -c, --check         validate the launch file (and its includes) and exit
      --log-dir DIR   write node logs and params files to DIR
      --no-color      do not colour node name prefixes
  -h, --help          print this help
  -V, --version       print the version

Exit status:
  0  the robot ran and stopped cleanly (or --check found no problem)
  1  a required node failed, or the robot could not finish starting
  2  bad command line or bad launch file; nothing was started

Signals:
  SIGINT/SIGTERM  stop: SIGTERM to every node (reverse start order), SIGKILL
                  after the grace period; a second one kills at once
  SIGHUP          re-read params from the launch file and forward SIGHUP
";

/// What the command line asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Print [`HELP`].
    Help,
    /// Print the version.
    Version,
    /// Validate or run a launch file.
    Launch(LaunchArgs),
}

/// `launch FILE ...`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LaunchArgs {
    /// The launch file.
    pub file: PathBuf,
    /// `NAME=VALUE` overrides, in order.
    pub args: Vec<(String, String)>,
    /// `--check`: validate only.
    pub check: bool,
    /// `--log-dir`.
    pub log_dir: Option<PathBuf>,
    /// `--no-color`.
    pub no_colour: bool,
}

/// Parses the arguments after the program name. The error is a one-line
/// usage message.
pub fn parse<I: IntoIterator<Item = String>>(args: I) -> Result<Command, String> {
    let mut out = LaunchArgs::default();
    let mut file = None;
    let mut it = args.into_iter();
    let mut options_done = false;
    while let Some(a) = it.next() {
        if !options_done && a.starts_with('-') && a.len() > 1 {
            match a.as_str() {
                "-h" | "--help" => return Ok(Command::Help),
                "-V" | "--version" => return Ok(Command::Version),
                "-c" | "--check" => out.check = true,
                "--no-color" | "--no-colour" => out.no_colour = true,
                "--log-dir" => {
                    let d = it.next().ok_or("--log-dir needs a directory")?;
                    out.log_dir = Some(d.into());
                }
                "--" => options_done = true,
                _ => match a.strip_prefix("--log-dir=") {
                    Some(d) => out.log_dir = Some(d.into()),
                    None => return Err(format!("unknown option `{a}`")),
                },
            }
        } else if file.is_none() {
            file = Some(PathBuf::from(a));
        } else {
            match a.split_once('=') {
                Some((k, v)) if !k.is_empty() => out.args.push((k.to_owned(), v.to_owned())),
                _ => return Err(format!("`{a}`: expected NAME=VALUE")),
            }
        }
    }
    out.file = file.ok_or("missing launch file")?;
    Ok(Command::Launch(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(a: &[&str]) -> Result<Command, String> {
        parse(a.iter().map(|s| s.to_string()))
    }

    #[test]
    fn parses_file_args_and_options() {
        let Command::Launch(l) =
            p(&["--check", "robot.toml", "speed=2.0", "--log-dir", "x"]).unwrap()
        else {
            panic!()
        };
        assert!(l.check);
        assert_eq!(l.file, PathBuf::from("robot.toml"));
        assert_eq!(l.args, vec![("speed".into(), "2.0".into())]);
        assert_eq!(l.log_dir, Some(PathBuf::from("x")));
        assert_eq!(p(&["-h"]).unwrap(), Command::Help);
        assert!(p(&[]).is_err());
        assert!(p(&["f.toml", "nonsense"]).is_err());
        assert!(p(&["--bogus", "f.toml"]).is_err());
    }
}
