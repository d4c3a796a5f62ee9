//! The `main` of a node: [`run`].

use std::error::Error;
use std::fmt::Write as _;
use std::process::ExitCode;

use crate::node::Node;

/// Runs a node: creates [`Node::new(name)`](Node::new) (configured from the
/// launcher's `AXON_*` environment, with the shutdown handling installed),
/// runs `body` with it, and turns the outcome into the process's exit
/// status.
///
/// - `Ok(())`, including after a stop by SIGINT/SIGTERM (waits and `spin`
///   return, the code after them runs): exit status 0.
/// - An error, from creating the node or from `body`: one line on stderr,
///   `NAME: error: ERROR: CAUSE: CAUSE...` (each `source()` in turn, as
///   `anyhow` prints with `{:#}`), and exit status 1. `NAME` is the node's
///   name (`AXON_NODE_NAME` when the launcher set it), or `name` if the
///   node could not be created.
///
/// `body` may return any error that converts into `Box<dyn Error>`:
/// `anyhow::Error`, `Box<dyn Error>`, axon's errors.
///
/// ```no_run
/// use std::process::ExitCode;
///
/// fn main() -> ExitCode {
///     axon::run("heartbeat", |node| {
///         let rate = node.param_or("rate", axon::Hz::new(1.0))?;
///         let beats = node.publisher::<u64>("heartbeat").create()?;
///         let mut n = 0u64;
///         node.every(rate.period(), || -> Result<(), axon::LoanError> {
///             n += 1;
///             beats.publish(&n)?; // an error ends spin, and run prints it
///             Ok(())
///         })
///         .spin()?; // returns on Ctrl-C / SIGTERM
///         println!("heartbeat: stopping after {n}");
///         Ok::<(), Box<dyn std::error::Error>>(())
///     })
/// }
/// ```
pub fn run<E>(name: &str, body: impl FnOnce(&Node) -> Result<(), E>) -> ExitCode
where
    E: Into<Box<dyn Error>>,
{
    let (who, result) = match Node::new(name) {
        Ok(node) => {
            let result = body(&node).map_err(Into::into);
            (node.name().to_string(), result)
        }
        Err(e) => (name.to_string(), Err(e.into())),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{who}: error: {}", chain(&*e));
            ExitCode::FAILURE
        }
    }
}

/// `e` and its causes, `: `-separated.
fn chain(e: &dyn Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let _ = write!(text, ": {s}");
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("opening the camera")]
    struct Outer(#[source] std::io::Error);

    #[test]
    fn chain_prints_every_cause() {
        let e = Outer(std::io::Error::other("no such device"));
        assert_eq!(chain(&e), "opening the camera: no such device");
    }
}
