//! `axon view`: glue over crate `axon-view` (a Foxglove WebSocket server).

use std::io::Write;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use anyhow::{bail, Context};
use axon::TopicName;
use axon_view::ViewOptions;
use clap::Args;

use crate::{ExitCode, Global};

#[derive(Debug, Args)]
pub struct ViewArgs {
    /// Address to listen on (0.0.0.0 for every interface: anyone on the network may then watch and publish).
    #[arg(long, default_value = "127.0.0.1", value_name = "ADDR")]
    bind: IpAddr,
    /// Port to listen on (0: any free port, printed at start).
    #[arg(long, default_value_t = 8765)]
    port: u16,
    /// Only these topics (default: every topic of the domain).
    #[arg(long, num_args = 1.., value_name = "TOPIC")]
    topics: Vec<String>,
    /// At most this many messages per second on each channel (the newest is sent).
    #[arg(long, value_name = "HZ")]
    max_rate: Option<f64>,
    /// Close a client that takes no frame for this many seconds (its socket stays full).
    #[arg(long, default_value_t = 30.0, value_name = "SECS")]
    write_timeout: f64,
    /// Serve wss:// (TLS) with --cert and --key instead of ws://.
    #[arg(long)]
    tls: bool,
    /// With --tls: the PEM certificate chain (the server's certificate first).
    #[arg(long, value_name = "FILE")]
    cert: Option<PathBuf>,
    /// With --tls: the PEM private key of that certificate (PKCS#8, PKCS#1 or SEC1, not encrypted).
    #[arg(long, value_name = "FILE")]
    key: Option<PathBuf>,
}

/// Bad TLS arguments: one line, exit status 2, before anything listens.
fn bad_tls(msg: &str) -> anyhow::Error {
    let _ = writeln!(std::io::stderr(), "axon: {msg}");
    ExitCode(2).into()
}

fn load_tls(a: &ViewArgs) -> anyhow::Result<Option<axon_view::Tls>> {
    match (a.tls, &a.cert, &a.key) {
        (false, None, None) => Ok(None),
        (false, _, _) => Err(bad_tls("--cert and --key go with --tls")),
        (true, Some(cert), Some(key)) => axon_view::Tls::load(cert, key)
            .map(Some)
            .map_err(|e| bad_tls(&format!("--tls: {e}"))),
        (true, _, _) => Err(bad_tls(
            "--tls needs --cert FILE (PEM certificate chain) and --key FILE (PEM private key)",
        )),
    }
}

pub fn run(g: &Global, a: &ViewArgs, _out: &mut dyn Write) -> anyhow::Result<()> {
    let tls = load_tls(a)?;
    let domain = g.domain()?;
    let topics = if a.topics.is_empty() {
        None
    } else {
        let mut list = Vec::new();
        for t in &a.topics {
            list.push(
                TopicName::new(t)
                    .with_context(|| format!("--topics {t}"))?
                    .to_string(),
            );
        }
        Some(list)
    };
    let max_rate = match a.max_rate {
        None => None,
        Some(hz) if hz.is_finite() && hz > 0.0 && hz <= 1e6 => Some(hz),
        Some(hz) => bail!("--max-rate {hz}: give messages per second above 0"),
    };
    if !(a.write_timeout.is_finite() && a.write_timeout > 0.0 && a.write_timeout <= 86400.0) {
        bail!(
            "--write-timeout {}: give seconds above 0 (at most a day)",
            a.write_timeout
        );
    }
    axon::shutdown::install().context("cannot install the Ctrl-C handler")?;
    let opts = ViewOptions {
        bind: a.bind,
        port: a.port,
        topics,
        max_rate,
        write_timeout: std::time::Duration::from_secs_f64(a.write_timeout),
        tls,
    };
    axon_view::serve(&domain, &opts, Arc::new(AtomicBool::new(false)))?;
    Ok(())
}
