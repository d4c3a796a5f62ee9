//! The `axon` binary: all of it is in the library (`axon_cli`).

fn main() {
    std::process::exit(axon_cli::main());
}
