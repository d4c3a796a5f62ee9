//! `axon-zenoh`: glue around `axon_zenoh::gateway::run`.

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--help" || a == "-h") {
        println!("{}", axon_zenoh::args::USAGE);
        return ExitCode::SUCCESS;
    }
    let cfg = match axon_zenoh::args::parse_args(&args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("axon-zenoh: {e}\n\n{}", axon_zenoh::args::USAGE);
            return ExitCode::from(2);
        }
    };
    if let Err(e) = axon::shutdown::install() {
        eprintln!("axon-zenoh: cannot install signal handlers: {e}");
        return ExitCode::from(1);
    }
    let name = cfg.name.clone();
    match axon_zenoh::gateway::run(cfg) {
        Ok(()) => {
            eprintln!("axon-zenoh {name}: stopped");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("axon-zenoh {name}: {e:#}");
            ExitCode::from(1)
        }
    }
}
