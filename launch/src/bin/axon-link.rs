//! `axon-link`: one socket link endpoint (see `axon_launch::link` for the
//! command line and `axon::link` for what it does). The launcher starts it
//! for each `[[link]]` table; it can also run by hand.

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--help" || a == "-h") {
        println!("{}", axon_launch::link::USAGE);
        return ExitCode::SUCCESS;
    }
    let cfg = match axon_launch::link::parse_args(&args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("axon-link: {e}\n\n{}", axon_launch::link::USAGE);
            return ExitCode::from(2);
        }
    };
    if let Err(e) = axon::shutdown::install() {
        eprintln!("axon-link: cannot install signal handlers: {e}");
        return ExitCode::from(1);
    }
    let name = cfg.name.clone();
    match axon::link::run(cfg, &axon::link::Stop::new()) {
        Ok(()) => {
            eprintln!("axon-link {name}: stopped");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("axon-link {name}: {e}");
            ExitCode::from(1)
        }
    }
}
