//! TLS and mutual TLS between gateways, Zenoh's own: `axon-zenoh` is built
//! with zenoh's `transport_tls` (rustls on `ring`) and every TLS setting is
//! in the Zenoh json5 config the gateway passes through unchanged
//! (`transport.link.tls`). The certificates are made by the test (`rcgen`):
//! a throwaway CA, a server certificate for 127.0.0.1, a client
//! certificate, and a rogue CA with its own client certificate.
//!
//! Real `axon-zenoh` processes on loopback, each bridging its own axon
//! domain; the independent peer is the Python `eclipse-zenoh` package
//! (`zenoh_peer.py`, as in `python_peer.rs`). Every wait has a watchdog;
//! no test asserts a run time.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use axon::{Node, TypeDesc, WaitError};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use support::*;

/// PEM files made for one test.
struct Pki {
    /// The CA every good party trusts.
    ca: PathBuf,
    /// The listener's certificate (SAN 127.0.0.1 and localhost) and key.
    server: (PathBuf, PathBuf),
    /// A client certificate signed by the CA, and its key.
    client: (PathBuf, PathBuf),
    /// A client certificate signed by another CA, and its key.
    rogue: (PathBuf, PathBuf),
}

fn make_ca(name: &str) -> (Issuer<'static, KeyPair>, String) {
    let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.distinguished_name.push(DnType::CommonName, name);
    p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let key = KeyPair::generate().unwrap();
    let pem = p.self_signed(&key).unwrap().pem();
    (Issuer::new(p, key), pem)
}

/// A leaf certificate for `names`, signed by `issuer`, written as
/// `<tag>.pem` and `<tag>.key` in `dir`.
fn leaf(
    dir: &Path,
    tag: &str,
    issuer: &Issuer<'_, KeyPair>,
    names: &[&str],
    usage: ExtendedKeyUsagePurpose,
) -> (PathBuf, PathBuf) {
    let mut p =
        CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>()).unwrap();
    p.distinguished_name.push(DnType::CommonName, names[0]);
    p.extended_key_usages = vec![usage];
    let key = KeyPair::generate().unwrap();
    let cert = p.signed_by(&key, issuer).unwrap();
    let (c, k) = (
        dir.join(format!("{tag}.pem")),
        dir.join(format!("{tag}.key")),
    );
    std::fs::write(&c, cert.pem()).unwrap();
    std::fs::write(&k, key.serialize_pem()).unwrap();
    (c, k)
}

fn pki(dir: &Path) -> Pki {
    let (issuer, ca_pem) = make_ca("axon test CA");
    let ca = dir.join("ca.pem");
    std::fs::write(&ca, ca_pem).unwrap();
    let server = leaf(
        dir,
        "server",
        &issuer,
        &["127.0.0.1", "localhost"],
        ExtendedKeyUsagePurpose::ServerAuth,
    );
    let client = leaf(
        dir,
        "client",
        &issuer,
        &["gateway-client"],
        ExtendedKeyUsagePurpose::ClientAuth,
    );
    let (rogue_ca, _) = make_ca("rogue CA");
    let rogue = leaf(
        dir,
        "rogue",
        &rogue_ca,
        &["gateway-client"],
        ExtendedKeyUsagePurpose::ClientAuth,
    );
    Pki {
        ca,
        server,
        client,
        rogue,
    }
}

/// The `transport.link.tls` member of a Zenoh config: `(key, path)` pairs
/// plus `enable_mtls`.
fn tls(entries: &[(&str, &Path)], mtls: bool) -> String {
    let mut s = String::from("  transport: { link: { tls: {\n");
    for (k, p) in entries {
        s.push_str(&format!("    {k}: \"{}\",\n", p.display()));
    }
    s.push_str(&format!("    enable_mtls: {mtls},\n  }} }} }},\n"));
    s
}

fn gw_args<'a>(name: &'a str, cfg: &'a Path, zd: &'a str, what: &[&'a str]) -> Vec<&'a str> {
    let mut v = vec![
        "--name",
        name,
        "--config",
        cfg.to_str().unwrap(),
        "--zenoh-domain",
        zd,
    ];
    v.extend_from_slice(what);
    v
}

#[test]
fn tls_topic_crosses_two_gateways_with_the_ca_in_the_zenoh_config() {
    let (a, b) = (Shm::new("zt", "a"), Shm::new("zt", "b"));
    let dir = tmp_dir("tls");
    let pki = pki(&dir);
    let ep = vec![format!("tls/127.0.0.1:{}", free_port())];
    let ca = zconfig_eps(
        &dir,
        "a",
        "peer",
        &ep,
        &[],
        &tls(
            &[
                ("listen_certificate", &pki.server.0),
                ("listen_private_key", &pki.server.1),
            ],
            false,
        ),
    );
    let cb = zconfig_eps(
        &dir,
        "b",
        "peer",
        &[],
        &ep,
        &tls(&[("root_ca_certificate", &pki.ca)], false),
    );
    let zd = zdomain("tls");
    let _tick = ticker(a.domain.clone(), "/tick");
    let gwa = spawn_gw(&gw_args("gwa", &ca, &zd, &["--export", "/tick"]), &a);
    gwa.wait_for("exporting /tick");
    let (_nb, sub) = sink(&b.domain, "/tick");
    let gwb = spawn_gw(&gw_args("gwb", &cb, &zd, &["--import", "/**"]), &b);
    gwb.wait_for("importing /tick");
    // `receive` checks every sample's 16 bytes (a counter and 8 x 0xab).
    let got = receive(&sub, 30, "A -> B over TLS");
    assert!(got.windows(2).all(|w| w[0] < w[1]), "out of order: {got:?}");
    stop(gwb);
    stop(gwa);
    let _ = std::fs::remove_dir_all(dir);
}

/// Whether `sub` got nothing in `wait`.
fn silent(sub: &axon::Subscriber<[u8]>, wait: Duration) -> bool {
    let end = Instant::now() + wait;
    while Instant::now() < end {
        match sub.recv_timeout(Duration::from_millis(100)) {
            Ok(_) => return false,
            Err(WaitError::Timeout | WaitError::PublisherGone) => {}
            Err(e) => panic!("{e}"),
        }
    }
    true
}

#[test]
fn mtls_refuses_a_gateway_without_a_client_cert_or_with_another_cas_and_keeps_serving() {
    let (a, good, none, rogue) = (
        Shm::new("zt", "ma"),
        Shm::new("zt", "mg"),
        Shm::new("zt", "mn"),
        Shm::new("zt", "mr"),
    );
    let dir = tmp_dir("mtls");
    let pki = pki(&dir);
    let ep = vec![format!("tls/127.0.0.1:{}", free_port())];
    // A is a Zenoh router listening with mTLS: it checks clients against
    // the same CA.
    let ca = zconfig_eps(
        &dir,
        "a",
        "router",
        &ep,
        &[],
        &tls(
            &[
                ("root_ca_certificate", &pki.ca),
                ("listen_certificate", &pki.server.0),
                ("listen_private_key", &pki.server.1),
            ],
            true,
        ),
    );
    // The three clients differ only in the certificate they present.
    let client = |tag: &str, cert: Option<&(PathBuf, PathBuf)>| {
        let mut entries = vec![("root_ca_certificate", pki.ca.as_path())];
        if let Some((c, k)) = cert {
            entries.push(("connect_certificate", c.as_path()));
            entries.push(("connect_private_key", k.as_path()));
        }
        zconfig_eps(&dir, tag, "peer", &[], &ep, &tls(&entries, true))
    };
    let (cg, cn, cr) = (
        client("good", Some(&pki.client)),
        client("none", None),
        client("rogue", Some(&pki.rogue)),
    );
    let zd = zdomain("mtls");
    let tick = ticker(a.domain.clone(), "/tick");
    let gwa = spawn_gw(&gw_args("gwa", &ca, &zd, &["--export", "/tick"]), &a);
    gwa.wait_for("exporting /tick");
    let import = ["--import", "/**"];
    // The refused ones first: the listener must go on serving after them.
    let (_nn, sub_none) = sink(&none.domain, "/tick");
    let (_nr, sub_rogue) = sink(&rogue.domain, "/tick");
    let gwn = spawn_gw(&gw_args("gwn", &cn, &zd, &import), &none);
    let gwr = spawn_gw(&gw_args("gwr", &cr, &zd, &import), &rogue);
    gwn.wait_for("Zenoh session");
    gwr.wait_for("Zenoh session");
    // Zenoh retries a peer's connect every second or so: let both retry.
    assert!(
        silent(&sub_none, Duration::from_secs(2)),
        "no client cert: delivered"
    );
    let (_ng, sub_good) = sink(&good.domain, "/tick");
    let from = tick.next();
    let gwg = spawn_gw(&gw_args("gwg", &cg, &zd, &import), &good);
    gwg.wait_for("importing /tick");
    await_counter(&sub_good, from, "A -> good client over mTLS");
    receive(&sub_good, 20, "A -> good client over mTLS, still flowing");
    // The refused gateways have been retrying all along.
    assert!(
        silent(&sub_none, Duration::from_secs(2)),
        "a gateway without a client certificate got samples over mTLS"
    );
    assert!(
        silent(&sub_rogue, Duration::from_millis(500)),
        "a gateway with another CA's certificate got samples over mTLS"
    );
    receive(&sub_good, 10, "A -> good client after the refusals");
    let (log_n, log_r) = (stop(gwn), stop(gwr));
    for log in [&log_n, &log_r] {
        assert!(!log.contains("importing /tick"), "{log}");
    }
    stop(gwg);
    stop(gwa);
    drop(tick);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn python_zenoh_peer_reads_the_documented_key_over_tls_with_the_ca() {
    let shm = Shm::new("zt", "py");
    let dir = tmp_dir("tlspy");
    let pki = pki(&dir);
    let ep = format!("tls/127.0.0.1:{}", free_port());
    let cfg = zconfig_eps(
        &dir,
        "gw",
        "peer",
        std::slice::from_ref(&ep),
        &[],
        &tls(
            &[
                ("listen_certificate", &pki.server.0),
                ("listen_private_key", &pki.server.1),
            ],
            false,
        ),
    );
    let zd = zdomain("tlspy");
    let stop_flag = Arc::new(AtomicBool::new(false));
    let (flag, d) = (stop_flag.clone(), shm.domain.clone());
    let publisher = thread::spawn(move || {
        let node = Node::builder("talker").domain(d).create().unwrap();
        let p = node
            .publisher::<[u8]>("/chatter")
            .max_len(8)
            .create()
            .unwrap();
        while !flag.load(Ordering::SeqCst) {
            if let Ok(mut loan) = p.loan_slice(5) {
                loan.copy_from_slice(b"hello");
                loan.send();
            }
            thread::sleep(Duration::from_millis(10));
        }
    });
    let gw = spawn_gw(&gw_args("gw", &cfg, &zd, &["--export", "/chatter"]), &shm);
    gw.wait_for("exporting /chatter");
    let out = Command::new(python())
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/zenoh_peer.py"))
        .arg(&ep)
        .arg(format!("axon/{zd}/chatter"))
        .arg(format!("axon/{zd}/@type/chatter"))
        .arg(&pki.ca)
        .output()
        .unwrap();
    stop_flag.store(true, Ordering::SeqCst);
    publisher.join().unwrap();
    stop(gw);
    let _ = std::fs::remove_dir_all(&dir);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "python peer failed: {}\n{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    let desc = TypeDesc::of::<[u8]>();
    assert_eq!(v["key"], format!("axon/{zd}/chatter"));
    assert_eq!(v["magic"], "AXZ1");
    assert_eq!(v["payload"], "68656c6c6f"); // "hello", the sample's bytes
    assert_eq!(v["type_name"], desc.name.as_str());
    assert_eq!(v["fingerprint"].as_u64(), Some(desc.fingerprint));
    assert_eq!(v["announce"]["topic"], "/chatter", "{v}");
}
