//! `launch`: thin glue around the `axon_launch` library.

use std::process::ExitCode;

use anyhow::Context as _;
use axon_launch::cli::{self, Command};
use axon_launch::output::Printer;
use axon_launch::{load, run, LoadOptions, RunOptions, ShmTopicProbe};

fn main() -> ExitCode {
    match real_main() {
        Ok(code) => code,
        Err(e) => {
            eprintln_quiet(format_args!("launch: {e:#}"));
            ExitCode::from(1)
        }
    }
}

/// Writes to stderr, ignoring a closed stderr.
fn eprintln_quiet(msg: std::fmt::Arguments<'_>) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr().lock(), "{msg}");
}

fn real_main() -> anyhow::Result<ExitCode> {
    let cmd = match cli::parse(std::env::args().skip(1)) {
        Ok(c) => c,
        Err(e) => {
            eprintln_quiet(format_args!("launch: {e}\nTry `launch --help`."));
            return Ok(ExitCode::from(2));
        }
    };
    let args = match cmd {
        Command::Help => {
            use std::io::Write;
            let _ = std::io::stdout().write_all(cli::HELP.as_bytes());
            return Ok(ExitCode::SUCCESS);
        }
        Command::Version => {
            use std::io::Write;
            let _ = writeln!(std::io::stdout(), "launch {}", env!("CARGO_PKG_VERSION"));
            return Ok(ExitCode::SUCCESS);
        }
        Command::Launch(a) => a,
    };
    let opts = LoadOptions {
        args: args.args.clone(),
        exe_dir: None,
        log_dir: args.log_dir.clone(),
    };
    let plan = match load(&args.file, &opts) {
        Ok(p) => p,
        Err(e) => {
            eprintln_quiet(format_args!("launch: error: {e}"));
            return Ok(ExitCode::from(2));
        }
    };
    if args.check {
        let names: Vec<&str> = plan.processes.iter().map(|p| p.name.as_str()).collect();
        use std::io::Write;
        let _ = writeln!(
            std::io::stdout(),
            "{} is valid: {} node(s), start order: {}",
            args.file.display(),
            names.len(),
            names.join(", ")
        );
        return Ok(ExitCode::SUCCESS);
    }

    let file = args.file.clone();
    let probe = ShmTopicProbe::from_env(plan.settings.domain.as_deref());
    let run_opts = RunOptions {
        probe: Box::new(probe),
        colour: !args.no_colour && Printer::want_colour(),
        reload: Some(Box::new(move || load(&file, &opts))),
    };
    let report = run(plan, run_opts).context("supervision failed")?;
    eprintln_quiet(format_args!(
        "launch: stopped ({})\n{}",
        report.reason,
        report.table()
    ));
    Ok(ExitCode::from(report.exit_code() as u8))
}
