//! `--tls`: serve `wss://` with a PEM certificate chain and private key.
//!
//! rustls (the version zenoh's `transport_tls` uses) on the `ring` crypto
//! provider, through tokio-rustls; TLS 1.3 and 1.2, no client
//! certificates, no ALPN (a browser's WebSocket offers `http/1.1` or
//! nothing; both are served).
//!
//! # Loading (before the server listens)
//! [`Tls::load`] reads both files and builds the server configuration, so
//! a bad file stops `axon view` before it binds its port. Each error is one
//! line naming the file: not found or unreadable, not a regular file (a
//! FIFO, a device such as `/dev/zero`, a directory: refused after `fstat`,
//! before one byte is read; the file is opened `O_NONBLOCK`, so a FIFO
//! without a writer does not hang the open), larger than
//! [`MAX_PEM_FILE`], not PEM, no `CERTIFICATE` section in the certificate
//! file, no private key section (PKCS#8, PKCS#1 or SEC1; an encrypted key
//! is refused) in the key file, a certificate or key that does not parse,
//! and a key that is not the certificate's.
//!
//! # Bounds
//! - each file: at most [`MAX_PEM_FILE`] (1 MiB) read;
//! - a connection's TLS handshake runs in that connection's own task (never
//!   in the accept loop) and must end within [`HANDSHAKE_TIMEOUT`]; a
//!   plaintext client or a garbage handshake fails it and only that
//!   connection is dropped. Handshakes in progress count against
//!   [`crate::server::MAX_CONNECTIONS`].

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// Largest certificate or key file read (1 MiB: a chain of a few
/// certificates is a few KiB).
pub const MAX_PEM_FILE: u64 = 1 << 20;

/// A client must finish the TLS handshake within this (then the WebSocket
/// handshake has [`crate::server::HANDSHAKE_TIMEOUT`]).
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// A loaded certificate chain and key: what `axon view --tls` serves with.
#[derive(Clone)]
pub struct Tls {
    pub(crate) acceptor: tokio_rustls::TlsAcceptor,
}

impl fmt::Debug for Tls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Tls(rustls server configuration)")
    }
}

/// Why the certificate or key cannot be used; one line naming the file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    #[error("certificate file {}: {why}", path.display())]
    Cert { path: PathBuf, why: String },
    #[error("private key file {}: {why}", path.display())]
    Key { path: PathBuf, why: String },
    #[error(
        "private key file {} does not belong to the certificate in {}",
        key.display(),
        cert.display()
    )]
    Mismatch { cert: PathBuf, key: PathBuf },
}

impl Tls {
    /// Reads the PEM certificate chain (the server's certificate first)
    /// and the PEM private key, and checks that they belong together.
    pub fn load(cert: &Path, key: &Path) -> Result<Tls, TlsError> {
        let cert_err = |why: String| TlsError::Cert {
            path: cert.to_path_buf(),
            why,
        };
        let key_err = |why: String| TlsError::Key {
            path: key.to_path_buf(),
            why,
        };
        let cert_bytes = read_bounded(cert).map_err(cert_err)?;
        let key_bytes = read_bounded(key).map_err(key_err)?;
        let chain = parse_chain(&cert_bytes).map_err(cert_err)?;
        let key_der = parse_key(&key_bytes).map_err(key_err)?;
        Self::build(chain, key_der).map_err(|e| match e {
            Refused::Key(why) => key_err(why),
            Refused::Cert(why) => cert_err(why),
            Refused::Mismatch => TlsError::Mismatch {
                cert: cert.to_path_buf(),
                key: key.to_path_buf(),
            },
        })
    }

    fn build(
        chain: Vec<CertificateDer<'static>>,
        key: PrivateKeyDer<'static>,
    ) -> Result<Tls, Refused> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let signing = provider
            .key_provider
            .load_private_key(key.clone_key())
            .map_err(|e| Refused::Key(format!("the key is not usable: {e}")))?;
        let certified = rustls::sign::CertifiedKey::new(chain.clone(), signing);
        match certified.keys_match() {
            Ok(()) => {}
            Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::KeyMismatch)) => {
                return Err(Refused::Mismatch)
            }
            // ring cannot say the key's public half: rustls checks at use.
            Err(rustls::Error::InconsistentKeys(_)) => {}
            Err(e) => {
                return Err(Refused::Cert(format!(
                    "the certificate does not parse: {e}"
                )))
            }
        }
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| Refused::Cert(format!("no TLS version: {e}")))?
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .map_err(|e| Refused::Cert(e.to_string()))?;
        Ok(Tls {
            acceptor: tokio_rustls::TlsAcceptor::from(Arc::new(config)),
        })
    }
}

enum Refused {
    Key(String),
    Cert(String),
    Mismatch,
}

/// A certificate or key file ([`axon::read_regular_file`], at most
/// [`MAX_PEM_FILE`] bytes).
fn read_bounded(path: &Path) -> Result<Vec<u8>, String> {
    axon::read_regular_file(path, MAX_PEM_FILE).map_err(|e| e.to_string())
}

fn pem_error(e: pem::Error) -> String {
    match e {
        pem::Error::MissingSectionEnd { .. } => "not PEM: a section has no END line".into(),
        pem::Error::IllegalSectionStart { .. } => "not PEM: a malformed BEGIN line".into(),
        pem::Error::Base64Decode(e) => format!("not PEM: bad base64 in a section ({e})"),
        pem::Error::SectionTooLarge => "not PEM: a section is too large".into(),
        e => format!("not PEM: {e}"),
    }
}

/// The `CERTIFICATE` sections of a PEM file, in order.
fn parse_chain(bytes: &[u8]) -> Result<Vec<CertificateDer<'static>>, String> {
    let mut chain = Vec::new();
    for c in CertificateDer::pem_slice_iter(bytes) {
        chain.push(c.map_err(pem_error)?);
    }
    if chain.is_empty() {
        return Err("not a PEM certificate chain: no CERTIFICATE section".into());
    }
    Ok(chain)
}

/// The first private key section of a PEM file.
fn parse_key(bytes: &[u8]) -> Result<PrivateKeyDer<'static>, String> {
    PrivateKeyDer::from_pem_slice(bytes).map_err(|e| match e {
        pem::Error::NoItemsFound => "not a PEM private key: no PRIVATE KEY, RSA PRIVATE KEY or \
             EC PRIVATE KEY section (an encrypted key is not supported)"
            .into(),
        e => pem_error(e),
    })
}

/// `data` as the contents of both files: must never panic.
#[doc(hidden)]
pub fn fuzz_pem(data: &[u8]) {
    let chain = parse_chain(data);
    let key = parse_key(data);
    if let (Ok(chain), Ok(key)) = (chain, key) {
        let _ = Tls::build(chain, key);
    }
}
