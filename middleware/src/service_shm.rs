//! A service's shared-memory segment: its bytes (layout), creating,
//! validating, joining and leaving it, and the slot views. The only module
//! of services that holds `unsafe`; `service.rs` above it is safe Rust.
//!
//! ```text
//! header | request description | response description | directory | server record | client records x C | slots x (C x K)
//! slot   = [32-byte header: state, request elems, response elems, call id | request payload | response payload], 128-aligned
//! ```
//!
//! One file per service name, `<domain prefix>~srv.<name stem>` (a name
//! no topic can have, so topic tools skip it). Byte 0 of the file is the
//! admin lock, byte 1 the server's record lock, byte `2 + i` client `i`'s
//! (the topic rules: ownership is an OFD lock, "alive?" is `F_OFD_GETLK`).
//! A client's slots are its own: the slot handshake (`service_protocol.rs`)
//! moves each between the client and the server. The response of a slot
//! is written next to its request, so it reaches only its caller, and a
//! small request and response share the slot header's cache line.
//!
//! **Bounds:** at most [`MAX_CLIENTS`] clients and [`MAX_SLOTS`] slots
//! each; a request or response of at most [`MAX_PAYLOAD`] bytes; a
//! segment of at most [`MAX_TOTAL`] bytes. Pages: header, descriptions and
//! records are reserved (`fallocate`) at creation, a client's slots when a
//! client claims its record. Nothing read from a segment sizes an
//! allocation except the two descriptions (at most 64 KiB each, copied out
//! once and decoded as hostile input), and every element count read from
//! a slot is checked against the validated config before use.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use axon_message::{desc::MAX_ENCODED, Description, Fingerprint};

use crate::fault::GuardedMap;
use crate::layout::{ShmName, LINE, PAYLOAD_ALIGN};
use crate::names::{Domain, TopicName};
use crate::service_protocol as proto;
use crate::sync::{AtomicU32, AtomicU64, Ordering};
use crate::sys::{self, FileInfo, SegmentFile};

/// First bytes of every service segment.
pub const MAGIC: [u8; 8] = *b"AXONSRVC";
/// Layout version of service segments.
pub const VERSION: u32 = 1;
/// Most clients one service has at once.
pub const MAX_CLIENTS: u32 = 64;
/// Most requests one client has in flight.
pub const MAX_SLOTS: u32 = 64;
/// Largest request or response, in bytes.
pub const MAX_PAYLOAD: u64 = 256 << 20;
/// Largest service segment (virtual; pages are reserved per client).
pub const MAX_TOTAL: u64 = 64 << 30;
/// Bytes before a slot's payloads.
pub const SLOT_HEADER: usize = 32;

const ADMIN_LOCK: u64 = 0;
const SERVER_LOCK: u64 = 1;
fn client_lock(index: usize) -> u64 {
    2 + index as u64
}

/// A request or response type as a service segment records it.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shape {
    /// `Schema::TYPE_NAME`, `name_len` bytes used.
    pub name: [u8; 128],
    /// Bytes of `name` used.
    pub name_len: u32,
    /// Bytes of the encoded description (0: none).
    pub description_len: u32,
    /// `Schema::FINGERPRINT`.
    pub fingerprint: u64,
    /// Bytes with no trailing elements.
    pub fixed_size: u64,
    /// Bytes per trailing element (0: sized).
    pub elem_size: u64,
    /// Most trailing elements (0 when sized).
    pub max_elems: u64,
}

impl Shape {
    /// The type's name (lossy on garbage).
    pub fn type_name(&self) -> String {
        let n = (self.name_len as usize).min(self.name.len());
        String::from_utf8_lossy(&self.name[..n]).into_owned()
    }

    /// Payload bytes of a value with `elems` trailing elements.
    pub fn payload_len(&self, elems: u64) -> Option<u64> {
        self.elem_size
            .checked_mul(elems)?
            .checked_add(self.fixed_size)
    }

    /// Bytes the slot reserves for it (32-aligned).
    fn capacity(&self) -> Option<u64> {
        Some(
            self.payload_len(self.max_elems)?
                .checked_next_multiple_of(PAYLOAD_ALIGN as u64)?
                .max(PAYLOAD_ALIGN as u64),
        )
    }

    fn check(&self, what: &str) -> Result<(), String> {
        if self.name_len as usize > self.name.len() {
            return Err(format!("{what} type name length {} > 128", self.name_len));
        }
        if std::str::from_utf8(&self.name[..self.name_len as usize]).is_err() {
            return Err(format!("{what} type name is not UTF-8"));
        }
        if self.description_len as usize > MAX_ENCODED {
            return Err(format!(
                "{what} description of {} bytes (at most {MAX_ENCODED})",
                self.description_len
            ));
        }
        if self.elem_size == 0 && self.max_elems != 0 {
            return Err(format!("{what}: elements without an element size"));
        }
        match self.payload_len(self.max_elems) {
            Some(n) if n <= MAX_PAYLOAD => Ok(()),
            _ => Err(format!(
                "{what} payload larger than {MAX_PAYLOAD} bytes (fixed {} + {} x {})",
                self.fixed_size, self.elem_size, self.max_elems
            )),
        }
    }

    fn hash(&self, f: Fingerprint) -> Fingerprint {
        f.bytes(&self.name)
            .u64(self.name_len as u64)
            .u64(self.description_len as u64)
            .u64(self.fingerprint)
            .u64(self.fixed_size)
            .u64(self.elem_size)
            .u64(self.max_elems)
    }
}

/// The immutable part of a service segment, fixed by its creator.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ServiceConfig {
    /// The service name, `name_len` bytes used.
    pub name: [u8; 256],
    /// Bytes of `name` used.
    pub name_len: u32,
    /// Client records.
    pub max_clients: u32,
    /// Slots (requests in flight) per client.
    pub slots_per_client: u32,
    /// Zero.
    pub reserved: u32,
    /// The request type.
    pub request: Shape,
    /// The response type.
    pub response: Shape,
}

impl ServiceConfig {
    /// The service name (lossy on garbage).
    pub fn service_name(&self) -> String {
        let n = (self.name_len as usize).min(self.name.len());
        String::from_utf8_lossy(&self.name[..n]).into_owned()
    }

    /// Checksum over every field.
    pub fn checksum(&self) -> u64 {
        let f = Fingerprint::new()
            .bytes(&self.name)
            .u64(self.name_len as u64)
            .u64(self.max_clients as u64)
            .u64(self.slots_per_client as u64)
            .u64(self.reserved as u64);
        self.response
            .hash(self.request.hash(f.str("request")).str("response"))
            .finish()
    }

    fn check(&self) -> Result<(), String> {
        if self.name_len as usize > self.name.len()
            || std::str::from_utf8(&self.name[..self.name_len as usize]).is_err()
        {
            return Err("bad service name".into());
        }
        if !(1..=MAX_CLIENTS).contains(&self.max_clients) {
            return Err(format!(
                "max_clients {} (1..={MAX_CLIENTS})",
                self.max_clients
            ));
        }
        if !(1..=MAX_SLOTS).contains(&self.slots_per_client) {
            return Err(format!(
                "slots per client {} (1..={MAX_SLOTS})",
                self.slots_per_client
            ));
        }
        self.request.check("request")?;
        self.response.check("response")
    }
}

/// The first bytes of a service segment.
#[repr(C, align(128))]
pub struct ServiceHeader {
    /// [`MAGIC`].
    pub magic: [u8; 8],
    /// [`VERSION`].
    pub version: u32,
    /// `size_of::<ServiceHeader>()`.
    pub header_size: u32,
    /// The whole file as the layout computes it.
    pub total_size: u64,
    /// [`ServiceConfig::checksum`].
    pub config_checksum: u64,
    /// What the creator fixed.
    pub config: ServiceConfig,
}

/// One word clients write: which client records are (or were) claimed.
#[repr(C, align(128))]
pub struct Directory {
    /// Bit `i`: client record `i` was claimed (a dead owner's bit stays
    /// until its record is claimed again; the server only uses it to
    /// choose which slots to scan).
    pub clients: AtomicU64,
}

/// The server's record. Line 0 only the server writes; line 1 clients.
#[repr(C, align(128))]
pub struct ServerRecord {
    /// Bumped by each server that claims the record (never 0 once claimed).
    pub epoch: AtomicU64,
    /// Owner's pid (display only: liveness is the lock).
    pub pid: AtomicU32,
    /// Owner's node name.
    pub node: ShmName,
    /// Requests answered or declined by this epoch.
    pub served: AtomicU64,
    _pad0: [u8; 128 - 8 - 4 - 4 - 68 - 8 - 4],
    /// Bit 0: the server announced it sleeps (wake handshake).
    pub sleepers: AtomicU64,
    /// The server's futex word.
    pub word: AtomicU32,
}

/// A client's record. Line 0 only the client writes; line 1 the server.
#[repr(C, align(128))]
pub struct ClientRecord {
    /// Owner's pid (display only).
    pub pid: AtomicU32,
    /// Owner's node name.
    pub node: ShmName,
    /// Calls sent.
    pub calls: AtomicU64,
    _pad0: [u8; 128 - 4 - 4 - 68 - 8],
    /// Bit 0: the client announced it sleeps.
    pub sleepers: AtomicU64,
    /// The client's futex word.
    pub word: AtomicU32,
}

/// The header of a slot.
#[repr(C, align(32))]
pub struct SlotHeader {
    /// The state word (`service_protocol.rs`).
    pub state: AtomicU64,
    /// Trailing elements of the request (written by the client before posting).
    pub request_elems: AtomicU64,
    /// Trailing elements of the response (written by the server before answering).
    pub response_elems: AtomicU64,
    /// The client's call number (display and checks).
    pub call: AtomicU64,
}

/// Byte offsets of a service segment, computed from a checked config.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServiceLayout {
    /// Request description.
    pub request_description: usize,
    /// Response description.
    pub response_description: usize,
    /// The directory line.
    pub directory: usize,
    /// The server record.
    pub server: usize,
    /// Client record 0.
    pub clients: usize,
    /// Slot 0 of client 0.
    pub slots: usize,
    /// Bytes per slot.
    pub slot_size: usize,
    /// Offset of the request payload in a slot.
    pub request_offset: usize,
    /// Offset of the response payload in a slot.
    pub response_offset: usize,
    /// Request payload capacity.
    pub request_capacity: usize,
    /// Response payload capacity.
    pub response_capacity: usize,
    /// Header, descriptions and records (reserved at creation).
    pub fixed_part: usize,
    /// The whole file.
    pub total: usize,
}

impl ServiceLayout {
    /// Offsets for `c`, `None` if it is invalid or too large.
    pub fn compute(c: &ServiceConfig) -> Option<ServiceLayout> {
        c.check().ok()?;
        let line = |n: u64| n.checked_next_multiple_of(LINE as u64);
        let header = line(std::mem::size_of::<ServiceHeader>() as u64)?;
        let request_description = header;
        let response_description = request_description + line(c.request.description_len as u64)?;
        let directory = response_description + line(c.response.description_len as u64)?;
        let server = directory + std::mem::size_of::<Directory>() as u64;
        let clients = server + std::mem::size_of::<ServerRecord>() as u64;
        let slots = clients + c.max_clients as u64 * std::mem::size_of::<ClientRecord>() as u64;
        let request_capacity = c.request.capacity()?;
        let response_capacity = c.response.capacity()?;
        let request_offset = SLOT_HEADER as u64;
        let response_offset = request_offset + request_capacity;
        let slot_size = line(response_offset + response_capacity)?;
        let n_slots = c.max_clients as u64 * c.slots_per_client as u64;
        let total = slots.checked_add(slot_size.checked_mul(n_slots)?)?;
        if total > MAX_TOTAL {
            return None;
        }
        Some(ServiceLayout {
            request_description: request_description as usize,
            response_description: response_description as usize,
            directory: directory as usize,
            server: server as usize,
            clients: clients as usize,
            slots: slots as usize,
            slot_size: slot_size as usize,
            request_offset: request_offset as usize,
            response_offset: response_offset as usize,
            request_capacity: request_capacity as usize,
            response_capacity: response_capacity as usize,
            fixed_part: slots as usize,
            total: total as usize,
        })
    }
}

/// What a participant needs a service to be.
#[derive(Debug, Clone)]
pub(crate) struct ServiceSpec {
    pub name: TopicName,
    pub config: ServiceConfig,
    /// Encoded descriptions (request, response), if known.
    pub descriptions: (Option<Vec<u8>>, Option<Vec<u8>>),
    /// Capacities asked for explicitly (others adapt to the segment).
    pub explicit_clients: bool,
    pub explicit_slots: bool,
    pub explicit_request_len: bool,
    pub explicit_response_len: bool,
}

/// Why a service segment cannot be opened or joined.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServiceError {
    /// A bad name.
    #[error(transparent)]
    Name(#[from] crate::names::NameError),
    /// Request or response type differ from the existing service's.
    #[error("service {service} serves {theirs}, but this participant uses {ours}")]
    TypeMismatch {
        /// The service.
        service: String,
        /// Our request and response types (`Req (fingerprint ..) -> Resp (..)`).
        ours: String,
        /// The service's request and response types.
        theirs: String,
    },
    /// An explicit capacity the existing service does not have.
    #[error("service {service}: {what} is {theirs}, but this participant asked for {ours}")]
    CapacityMismatch {
        /// The service.
        service: String,
        /// Which capacity.
        what: &'static str,
        /// Asked for.
        ours: u64,
        /// The service's.
        theirs: u64,
    },
    /// Another live server holds the name (at most one server per service).
    #[error(
        "service {service} already has a server: pid {pid}, node {node:?} (one server per service)"
    )]
    ServerExists {
        /// The service.
        service: String,
        /// The holder's pid.
        pid: u32,
        /// The holder's node.
        node: String,
    },
    /// Every client record is held by a live client.
    #[error("service {service} already has {max} live clients (its max_clients)")]
    TooManyClients {
        /// The service.
        service: String,
        /// The maximum.
        max: u32,
    },
    /// The segment is not a valid service segment (and is in use, so it
    /// was not replaced).
    #[error("{path}: corrupted service segment: {reason}")]
    Corrupted {
        /// The file.
        path: PathBuf,
        /// What disagreed.
        reason: String,
    },
    /// Settings that make no service (too large, zero clients, ...).
    #[error("invalid service settings: {0}")]
    Invalid(String),
    /// Another user owns the file.
    #[error("{path} is owned by uid {uid}, not by this user")]
    ForeignOwner {
        /// The file.
        path: PathBuf,
        /// Its owner.
        uid: u32,
    },
    /// No segment of that name exists (nobody serves or calls it).
    #[error("no such service: {service}")]
    NoSuchService {
        /// The service.
        service: String,
    },
    /// An operating-system error on the file.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: io::Error,
    },
}

impl ServiceError {
    fn io(path: &Path, source: io::Error) -> Self {
        ServiceError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// The path of `name`'s service segment in `domain`.
pub fn service_path(domain: &Domain, name: &TopicName) -> PathBuf {
    domain
        .dir()
        .join(format!("{}~srv.{}", domain.prefix(), name.file_stem()))
}

/// The service a file name of `domain` belongs to, if it is a service segment.
pub fn service_of_file(domain: &Domain, file_name: &str) -> Option<TopicName> {
    let stem = file_name
        .strip_prefix(&domain.prefix())?
        .strip_prefix("~srv.")?;
    TopicName::from_file_stem(stem).ok()
}

/// An open, validated, mapped service segment (one per participant: each
/// opens the file itself, so its locks are its own).
#[derive(Debug)]
pub(crate) struct ServiceSegment {
    file: SegmentFile,
    map: GuardedMap,
    path: PathBuf,
    info: FileInfo,
    /// Private, checked copy of the config.
    pub config: ServiceConfig,
    /// Offsets from `config`.
    pub layout: ServiceLayout,
    /// Descriptions copied out and checked at open.
    pub descriptions: (Option<Arc<Description>>, Option<Arc<Description>>),
    writable: bool,
}

enum Unusable {
    Invalid(ServiceError),
    Incompatible(ServiceError),
}

impl ServiceSegment {
    /// Opens `spec`'s service in `domain`, creating it if needed. The
    /// admin lock is held shared on return (the caller claims a record,
    /// then calls [`ServiceSegment::joined`]).
    pub fn open_or_create(domain: &Domain, spec: &ServiceSpec) -> Result<Self, ServiceError> {
        let path = service_path(domain, &spec.name);
        for _attempt in 0..16 {
            match SegmentFile::open(&path) {
                Ok(file) => match Self::from_file(file, &path, true) {
                    Ok(seg) => {
                        if seg.remove_if_abandoned() {
                            continue;
                        }
                        if seg.file.lock_wait(ADMIN_LOCK, false).is_err()
                            || !sys::same_file(&path, &seg.info)
                        {
                            continue;
                        }
                        match seg.check_compatible(spec) {
                            Ok(()) => return Ok(seg),
                            Err(e) => seg.replace_if_unused(Unusable::Incompatible(e))?,
                        }
                    }
                    Err((Some(file), e @ ServiceError::Corrupted { .. })) => {
                        replace_file_if_unused(&file, &path, Unusable::Invalid(e))?
                    }
                    Err((_, e)) => return Err(e),
                },
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    match Self::create(domain, &path, spec) {
                        Ok(file) => match Self::from_file(file, &path, true) {
                            Ok(seg) => return Ok(seg),
                            Err((_, e)) => return Err(e),
                        },
                        Err(ServiceError::Io { source, .. })
                            if source.kind() == io::ErrorKind::AlreadyExists => {}
                        Err(e) => return Err(e),
                    }
                }
                Err(e) => return Err(ServiceError::io(&path, e)),
            }
        }
        Err(ServiceError::io(
            &path,
            io::Error::other("service segment kept changing while it was being opened"),
        ))
    }

    /// Opens an existing service segment read-only, for tools.
    pub fn open_read_only(path: &Path) -> Result<Self, ServiceError> {
        let file = SegmentFile::open_read_only(path).map_err(|e| ServiceError::io(path, e))?;
        Self::from_file(file, path, false).map_err(|(_, e)| e)
    }

    /// The caller's claim is made: newcomers may take the segment for
    /// abandoned again once every claim is gone.
    pub fn joined(&self) {
        let _ = self.file.unlock(ADMIN_LOCK);
    }

    fn create(
        domain: &Domain,
        path: &Path,
        spec: &ServiceSpec,
    ) -> Result<SegmentFile, ServiceError> {
        let config = spec.config;
        let layout = ServiceLayout::compute(&config).ok_or_else(|| {
            ServiceError::Invalid(match config.check() {
                Err(e) => e,
                Ok(()) => format!("segment would be larger than {MAX_TOTAL} bytes"),
            })
        })?;
        static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let tmp = domain
            .dir()
            .join(format!("{}~tmp.{}.s{}", domain.prefix(), sys::pid(), n));
        crate::segment::remove_stale_temporaries(domain.dir(), &domain.prefix());
        let file = SegmentFile::create_new(&tmp, 0o600).map_err(|e| ServiceError::io(&tmp, e))?;
        let _ = file.try_lock(ADMIN_LOCK, true);
        let result = (|| {
            file.set_size(layout.total as u64)
                .map_err(|e| ServiceError::io(&tmp, e))?;
            file.allocate_range(0, layout.fixed_part as u64)
                .map_err(|e| ServiceError::io(&tmp, e))?;
            let map = GuardedMap::new(
                file.map(layout.fixed_part)
                    .map_err(|e| ServiceError::io(&tmp, e))?,
            );
            let base = map.map().as_mut_ptr();
            let hdr = base as *mut ServiceHeader;
            // SAFETY: (1) the mapping is `layout.fixed_part` bytes, at least
            // the header's (`compute` starts everything after it), and
            // page-aligned, so `hdr` is in bounds and aligned; (2) the file
            // is not published yet, so nothing else accesses it.
            unsafe {
                std::ptr::addr_of_mut!((*hdr).config).write(config);
                std::ptr::addr_of_mut!((*hdr).config_checksum).write(config.checksum());
                std::ptr::addr_of_mut!((*hdr).total_size).write(layout.total as u64);
                std::ptr::addr_of_mut!((*hdr).header_size)
                    .write(std::mem::size_of::<ServiceHeader>() as u32);
                std::ptr::addr_of_mut!((*hdr).version).write(VERSION);
                std::ptr::addr_of_mut!((*hdr).magic).write(MAGIC);
            }
            let descs = [
                (
                    &spec.descriptions.0,
                    layout.request_description,
                    config.request.description_len,
                ),
                (
                    &spec.descriptions.1,
                    layout.response_description,
                    config.response.description_len,
                ),
            ];
            for (d, at, len) in descs {
                if let Some(d) = d {
                    let n = d.len().min(len as usize);
                    // SAFETY: (1) `at + len` is inside the fixed part
                    // (`compute` reserves `len` rounded up to a line there),
                    // so the destination is in the mapping, and `d` is
                    // private memory that cannot overlap it; (2) the file is
                    // not published yet.
                    unsafe { std::ptr::copy_nonoverlapping(d.as_ptr(), base.add(at), n) };
                }
            }
            if map.poisoned() {
                return Err(ServiceError::io(
                    &tmp,
                    io::Error::other("truncated by another process while being created"),
                ));
            }
            file.set_mode(0o600)
                .map_err(|e| ServiceError::io(&tmp, e))?;
            Ok(())
        })();
        if let Err(e) = result {
            let _ = std::fs::remove_file(&tmp);
            return Err(e);
        }
        let published = sys::publish_file(&tmp, path);
        if let Err(e) = published {
            let _ = std::fs::remove_file(&tmp);
            return Err(ServiceError::io(path, e));
        }
        // Exclusive -> shared, atomically (the same open file description).
        let _ = file.try_lock(ADMIN_LOCK, false);
        Ok(file)
    }

    fn from_file(
        file: SegmentFile,
        path: &Path,
        writable: bool,
    ) -> Result<Self, (Option<SegmentFile>, ServiceError)> {
        let info = match file.info() {
            Ok(i) => i,
            Err(e) => return Err((None, ServiceError::io(path, e))),
        };
        if info.uid != sys::euid() {
            return Err((
                None,
                ServiceError::ForeignOwner {
                    path: path.to_path_buf(),
                    uid: info.uid,
                },
            ));
        }
        let corrupt = |reason: String| ServiceError::Corrupted {
            path: path.to_path_buf(),
            reason,
        };
        let hsize = std::mem::size_of::<ServiceHeader>();
        if info.size < hsize as u64 {
            return Err((
                Some(file),
                corrupt(format!("file is {} bytes, too short", info.size)),
            ));
        }
        let head = match file.map_read_only(hsize) {
            Ok(m) => GuardedMap::new(m),
            Err(e) => return Err((Some(file), ServiceError::io(path, e))),
        };
        let hdr = head.map().as_ptr() as *const ServiceHeader;
        // SAFETY: (1) `head` maps `size_of::<ServiceHeader>()` bytes, page
        // aligned; (2) the fields are plain bytes (every bit pattern is a
        // value), copied out with volatile reads because another process
        // may write them concurrently; all are validated below.
        let (magic, version, header_size, total, checksum, config) = unsafe {
            (
                std::ptr::read_volatile(std::ptr::addr_of!((*hdr).magic)),
                std::ptr::read_volatile(std::ptr::addr_of!((*hdr).version)),
                std::ptr::read_volatile(std::ptr::addr_of!((*hdr).header_size)),
                std::ptr::read_volatile(std::ptr::addr_of!((*hdr).total_size)),
                std::ptr::read_volatile(std::ptr::addr_of!((*hdr).config_checksum)),
                std::ptr::read_volatile(std::ptr::addr_of!((*hdr).config)),
            )
        };
        let truncated = head.poisoned();
        drop(head);
        let check = || -> Result<ServiceLayout, String> {
            if truncated {
                return Err("truncated by another process while its header was read".into());
            }
            if magic != MAGIC {
                return Err("bad magic: not an axon service segment".into());
            }
            if version != VERSION || header_size as usize != hsize {
                return Err(format!(
                    "layout version {version} (header {header_size} bytes); this build reads version {VERSION}"
                ));
            }
            if checksum != config.checksum() {
                return Err("config checksum does not match".into());
            }
            config.check()?;
            let layout = ServiceLayout::compute(&config).ok_or("config too large")?;
            if total != layout.total as u64 {
                return Err(format!(
                    "header says {total} bytes, the config makes {}",
                    layout.total
                ));
            }
            if info.size < total {
                return Err(format!(
                    "file is {} bytes, the layout needs {total}",
                    info.size
                ));
            }
            Ok(layout)
        };
        let layout = match check() {
            Ok(l) => l,
            Err(reason) => return Err((Some(file), corrupt(reason))),
        };
        let mapped = if writable {
            file.map(layout.total)
        } else {
            file.map_read_only(layout.total)
        };
        let map = match mapped {
            Ok(m) => GuardedMap::new(m),
            Err(e) => return Err((Some(file), ServiceError::io(path, e))),
        };
        let mut seg = ServiceSegment {
            file,
            map,
            path: path.to_path_buf(),
            info,
            config,
            layout,
            descriptions: (None, None),
            writable,
        };
        let r = seg.read_description(layout.request_description, &config.request);
        let q = seg.read_description(layout.response_description, &config.response);
        match (r, q) {
            (Ok(r), Ok(q)) => seg.descriptions = (r, q),
            (Err(e), _) | (_, Err(e)) => {
                let reason = format!("type description {e}");
                return Err((Some(seg.into_file()), corrupt(reason)));
            }
        }
        Ok(seg)
    }

    fn into_file(self) -> SegmentFile {
        self.file
    }

    fn read_description(
        &self,
        at: usize,
        shape: &Shape,
    ) -> Result<Option<Arc<Description>>, String> {
        let len = shape.description_len as usize;
        if len == 0 {
            return Ok(None);
        }
        let mut bytes = vec![0u8; len];
        // SAFETY: (1) `at + len` lies inside the mapping (`compute` puts a
        // line-rounded `len` there, before the records, and the mapping is
        // `layout.total`); (2) `bytes` is private and `len` long; (3) the
        // source may be written concurrently by a hostile process: bytes
        // are bytes, and the copy is decoded as hostile input below.
        unsafe {
            std::ptr::copy_nonoverlapping(self.map.map().as_ptr().add(at), bytes.as_mut_ptr(), len)
        };
        if self.map.poisoned() {
            return Err("was truncated while read".into());
        }
        let d = Description::decode(&bytes).map_err(|e| format!("does not decode: {e}"))?;
        let name = shape.type_name();
        if d.type_name() != name {
            return Err(format!("describes {:?}, not {name:?}", d.type_name()));
        }
        if d.fingerprint() != shape.fingerprint {
            return Err(format!("of {name} does not recompute to its fingerprint"));
        }
        Ok(Some(Arc::new(d)))
    }

    fn check_compatible(&self, spec: &ServiceSpec) -> Result<(), ServiceError> {
        let (ours, theirs) = (&spec.config, &self.config);
        let service = spec.name.to_string();
        let same_type = |a: &Shape, b: &Shape| {
            a.type_name() == b.type_name()
                && a.fingerprint == b.fingerprint
                && a.fixed_size == b.fixed_size
                && a.elem_size == b.elem_size
        };
        if !same_type(&ours.request, &theirs.request)
            || !same_type(&ours.response, &theirs.response)
        {
            let fp = |s: &Shape| format!("{} (fingerprint {:016x})", s.type_name(), s.fingerprint);
            return Err(ServiceError::TypeMismatch {
                service,
                ours: format!("{} -> {}", fp(&ours.request), fp(&ours.response)),
                theirs: format!("{} -> {}", fp(&theirs.request), fp(&theirs.response)),
            });
        }
        let checks = [
            (
                spec.explicit_clients,
                "max_clients",
                ours.max_clients as u64,
                theirs.max_clients as u64,
            ),
            (
                spec.explicit_slots,
                "max_in_flight",
                ours.slots_per_client as u64,
                theirs.slots_per_client as u64,
            ),
            (
                spec.explicit_request_len,
                "max_request_len",
                ours.request.max_elems,
                theirs.request.max_elems,
            ),
            (
                spec.explicit_response_len,
                "max_response_len",
                ours.response.max_elems,
                theirs.response.max_elems,
            ),
        ];
        for (explicit, what, o, t) in checks {
            if explicit && t < o {
                return Err(ServiceError::CapacityMismatch {
                    service: service.clone(),
                    what,
                    ours: o,
                    theirs: t,
                });
            }
        }
        Ok(())
    }

    fn replace_if_unused(self, why: Unusable) -> Result<(), ServiceError> {
        let _ = self.file.unlock(ADMIN_LOCK);
        replace_file_if_unused(&self.file, &self.path, why)
    }

    /// Removes the file if nobody holds a record and nobody is joining.
    pub fn remove_if_abandoned(&self) -> bool {
        if !self.writable || !matches!(self.file.try_lock(ADMIN_LOCK, true), Ok(true)) {
            return false;
        }
        let removed = unlink_if_unheld(&self.file, &self.path, &self.info, self.config.max_clients);
        let _ = self.file.unlock(ADMIN_LOCK);
        removed
    }

    /// Whether the mapping was zeroed after a truncation.
    pub fn poisoned(&self) -> bool {
        self.map.poisoned()
    }

    /// The service's name.
    pub fn name(&self) -> String {
        self.config.service_name()
    }

    fn at<T>(&self, offset: usize) -> &T {
        debug_assert!(offset + std::mem::size_of::<T>() <= self.layout.total);
        debug_assert_eq!(offset % std::mem::align_of::<T>(), 0);
        // SAFETY: (1) every caller passes an offset from `self.layout`
        // (computed from the checked config) plus an index checked against
        // the config, so `offset + size_of::<T>() <= layout.total`, the
        // mapping's length; (2) offsets are multiples of T's alignment
        // (128 for records, 32 for slot headers) and the mapping is page
        // aligned; (3) T holds only atomics and padding, valid for any bit
        // pattern and safe to share between processes.
        unsafe { &*(self.map.map().as_ptr().add(offset) as *const T) }
    }

    /// The directory line.
    pub fn directory(&self) -> &Directory {
        self.at(self.layout.directory)
    }

    /// The server record.
    pub fn server(&self) -> &ServerRecord {
        self.at(self.layout.server)
    }

    /// Client record `index` (< max_clients).
    pub fn client(&self, index: usize) -> &ClientRecord {
        assert!(index < self.config.max_clients as usize);
        self.at(self.layout.clients + index * std::mem::size_of::<ClientRecord>())
    }

    fn slot_offset(&self, client: usize, slot: usize) -> usize {
        assert!(client < self.config.max_clients as usize);
        assert!(slot < self.config.slots_per_client as usize);
        let k = self.config.slots_per_client as usize;
        self.layout.slots + (client * k + slot) * self.layout.slot_size
    }

    /// Slot `slot` of client `client`.
    pub fn slot(&self, client: usize, slot: usize) -> &SlotHeader {
        self.at(self.slot_offset(client, slot))
    }

    /// Whether a live server holds the record, and its epoch.
    ///
    /// A failed `F_OFD_GETLK` counts as "alive": the callers reclaim a
    /// slot `TAKEN` by a server only when it is known dead, and a live
    /// server answers with a plain store, so taking "unknown" for "dead"
    /// could let a late answer land in a reused slot. The cost of the safe
    /// side is a call that waits for its timeout instead of failing with
    /// `ServerGone`.
    pub fn server_epoch(&self) -> Option<u32> {
        match self.file.is_locked_by_other(SERVER_LOCK) {
            Ok(false) => None,
            Ok(true) | Err(_) => Some(self.server().epoch.load(Ordering::Acquire) as u32),
        }
    }

    /// Whether the server of `epoch` is alive.
    pub fn server_alive(&self, epoch: u32) -> bool {
        self.server_epoch() == Some(epoch)
    }

    /// Whether a live process holds client record `index` (not ours).
    pub fn client_alive(&self, index: usize) -> bool {
        matches!(self.file.is_locked_by_other(client_lock(index)), Ok(true))
    }

    /// Claims the server record: the epoch of this server.
    pub fn claim_server(&self, node: &str) -> Result<u32, ServiceError> {
        let lock = self.file.try_lock(SERVER_LOCK, true);
        if !matches!(lock, Ok(true)) {
            if let Err(e) = lock {
                return Err(ServiceError::io(&self.path, e));
            }
            let rec = self.server();
            return Err(ServiceError::ServerExists {
                service: self.name(),
                pid: rec.pid.load(Ordering::Relaxed),
                node: rec.node.get(),
            });
        }
        let rec = self.server();
        let mut epoch = rec.epoch.fetch_add(1, Ordering::AcqRel).wrapping_add(1) as u32;
        if epoch == 0 {
            epoch = rec.epoch.fetch_add(1, Ordering::AcqRel).wrapping_add(1) as u32;
        }
        rec.epoch.store(epoch as u64, Ordering::Release);
        rec.pid.store(sys::pid(), Ordering::Relaxed);
        rec.node.set(node);
        rec.served.store(0, Ordering::Relaxed);
        rec.sleepers.store(0, Ordering::Relaxed);
        Ok(epoch)
    }

    /// Gives the server record up (every request answered or declined by
    /// then: requests borrow the server); wakes every client so waiting
    /// calls notice at once; the last participant removes the file.
    pub fn release_server(&self) {
        let _ = self.file.unlock(SERVER_LOCK);
        for i in 0..self.config.max_clients as usize {
            let rec = self.client(i);
            crate::wake::handshake::bump(&rec.word);
            crate::wake::futex_wake_shared(&rec.word);
        }
        self.remove_if_abandoned();
    }

    /// Claims a client record: its index, and the mask of its slots still
    /// held by a live server (the caller reclaims them once answered).
    pub fn claim_client(&self, node: &str) -> Result<(usize, u64), ServiceError> {
        let k = self.config.slots_per_client as usize;
        for i in 0..self.config.max_clients as usize {
            match self.file.try_lock(client_lock(i), true) {
                Ok(true) => {}
                Ok(false) => continue,
                Err(e) => return Err(ServiceError::io(&self.path, e)),
            }
            let start = self.slot_offset(i, 0) as u64;
            let len = (k * self.layout.slot_size) as u64;
            if let Err(e) = self.file.allocate_range(start, len) {
                let _ = self.file.unlock(client_lock(i));
                return Err(ServiceError::io(&self.path, e));
            }
            let rec = self.client(i);
            rec.pid.store(sys::pid(), Ordering::Relaxed);
            rec.node.set(node);
            rec.calls.store(0, Ordering::Relaxed);
            rec.sleepers.store(0, Ordering::Relaxed);
            let live = self.server_epoch();
            let mut held = 0u64;
            for s in 0..k {
                if !self.reclaim(i, s, live) {
                    held |= 1 << s;
                }
            }
            // SYNC POINT D (SeqCst RMW): a server that scans after this sees
            // the bit; one that scanned before finds nothing of ours posted.
            self.directory().clients.fetch_or(1 << i, Ordering::SeqCst);
            return Ok((i, held));
        }
        Err(ServiceError::TooManyClients {
            service: self.name(),
            max: self.config.max_clients,
        })
    }

    /// Gives client record `index` up: posted requests are cancelled; the
    /// last participant removes the file.
    pub fn release_client(&self, index: usize) {
        for s in 0..self.config.slots_per_client as usize {
            proto::cancel(&self.slot(index, s).state);
        }
        self.directory()
            .clients
            .fetch_and(!(1u64 << index), Ordering::SeqCst);
        let _ = self.file.unlock(client_lock(index));
        self.remove_if_abandoned();
    }

    /// Whether the file still has the size the layout needs (a truncation
    /// seen without a fault: poisons the mapping).
    pub fn check_intact(&self) -> bool {
        if self.map.poisoned() {
            return false;
        }
        match self.file.info() {
            Ok(i) if i.size < self.layout.total as u64 => {
                self.map.poison();
                false
            }
            _ => true,
        }
    }

    fn payload(&self, client: usize, slot: usize, offset: usize, cap: usize) -> *mut u8 {
        let at = self.slot_offset(client, slot) + offset;
        debug_assert!(at + cap <= self.layout.total);
        // SAFETY: `slot_offset` checked both indices against the config, and
        // `offset + cap <= slot_size` (`compute`), so the pointer and the
        // `cap` bytes after it lie inside the mapping.
        unsafe { self.map.map().as_mut_ptr().add(at) }
    }

    fn bytes(&self, client: usize, slot: usize, request: bool) -> (*mut u8, usize) {
        let l = &self.layout;
        let (off, cap) = if request {
            (l.request_offset, l.request_capacity)
        } else {
            (l.response_offset, l.response_capacity)
        };
        (self.payload(client, slot, off, cap), cap)
    }

    // ---- client side: the slot handshake with ownership as values ----

    /// Loans slot `slot` of client `client` (ours) to write a request in.
    pub fn loan(&self, client: usize, slot: usize) -> Option<Loaned> {
        proto::loan(&self.slot(client, slot).state).then_some(Loaned { client, slot })
    }

    /// The request bytes of a loan (the slot's whole request capacity).
    pub fn request_mut<'a>(&'a self, loan: &'a mut Loaned) -> &'a mut [u8] {
        let (p, cap) = self.bytes(loan.client, loan.slot, true);
        // SAFETY: (1) in bounds (`bytes`); (2) exclusive in this process: a
        // `Loaned` exists only after the one successful FREE -> LOANED CAS
        // and is borrowed mutably for the slice's lifetime; no server reads
        // a LOANED slot. (A same-user process may write shared memory at
        // any time: bytes are bytes, as for topic slots.)
        unsafe { std::slice::from_raw_parts_mut(p, cap) }
    }

    /// The request bytes of a loan, shared.
    pub fn request_view<'a>(&'a self, loan: &'a Loaned) -> &'a [u8] {
        let (p, cap) = self.bytes(loan.client, loan.slot, true);
        // SAFETY: as in `request_mut`; a shared borrow of the unique loan
        // excludes the mutable view for the slice's lifetime.
        unsafe { std::slice::from_raw_parts(p, cap) }
    }

    /// Gives an unsent loan back.
    pub fn unloan(&self, loan: Loaned) {
        proto::release(&self.slot(loan.client, loan.slot).state, proto::LOANED);
    }

    /// Posts a loan holding a request with `elems` trailing elements to
    /// the server of `epoch`, and wakes it if it sleeps.
    pub fn post(&self, loan: Loaned, elems: u64, call: u64, epoch: u32) -> Posted {
        let h = self.slot(loan.client, loan.slot);
        h.request_elems.store(elems, Ordering::Relaxed);
        h.call.store(call, Ordering::Relaxed);
        proto::post(&h.state);
        let rec = self.server();
        if crate::wake::handshake::to_wake(&rec.sleepers) != 0 {
            crate::wake::handshake::bump(&rec.word);
            crate::wake::futex_wake_shared(&rec.word);
        }
        Posted {
            client: loan.client,
            slot: loan.slot,
            epoch,
        }
    }

    /// Where a posted request stands.
    pub fn poll(&self, posted: Posted) -> Poll {
        let st = &self.slot(posted.client, posted.slot).state;
        let w = proto::load(st);
        match proto::state_of(w) {
            proto::ANSWERED | proto::DECLINED => {
                let elems = self
                    .slot(posted.client, posted.slot)
                    .response_elems
                    .load(Ordering::Relaxed);
                Poll::Answered(Answered {
                    client: posted.client,
                    slot: posted.slot,
                    declined: proto::state_of(w) == proto::DECLINED,
                    elems,
                })
            }
            _ => Poll::Waiting(posted),
        }
    }

    /// Whether a posted request is answered or declined (no system call).
    pub fn is_answered(&self, posted: &Posted) -> bool {
        let w = proto::load(&self.slot(posted.client, posted.slot).state);
        matches!(proto::state_of(w), proto::ANSWERED | proto::DECLINED)
    }

    /// Whether the server a posted request waits for is gone: the server
    /// of the epoch it was posted to (REQUESTED) or that took it (TAKEN)
    /// holds no lock any more. Costs one `F_OFD_GETLK`.
    pub fn server_gone(&self, posted: &Posted) -> bool {
        let w = proto::load(&self.slot(posted.client, posted.slot).state);
        let epoch = match proto::state_of(w) {
            proto::TAKEN => proto::epoch_of(w),
            proto::REQUESTED => posted.epoch,
            _ => return false,
        };
        !self.server_alive(epoch)
    }

    /// Gives up on a posted request (timeout, drop, server gone): the slot
    /// is free again unless a live server holds it, in which case the
    /// returned `Posted` must be given up again later (its answer is
    /// thrown away).
    pub fn abandon(&self, posted: Posted) -> Option<Posted> {
        if self.reclaim(posted.client, posted.slot, self.server_epoch()) {
            None
        } else {
            Some(posted)
        }
    }

    /// The response bytes of an answer (the slot's whole response capacity).
    pub fn response<'a>(&'a self, answered: &'a Answered) -> &'a [u8] {
        let (p, cap) = self.bytes(answered.client, answered.slot, false);
        // SAFETY: (1) in bounds (`bytes`); (2) the server handed the slot
        // back (ANSWERED/DECLINED, loaded Acquire: its writes are visible)
        // and writes it no more; `Answered` is unique in this process (it
        // consumed the `Posted`), so nothing here writes these bytes while
        // the shared slice lives.
        unsafe { std::slice::from_raw_parts(p, cap) }
    }

    /// Frees an answered slot once its response was read.
    pub fn finish(&self, answered: Answered) {
        let st = &self.slot(answered.client, answered.slot).state;
        let w = proto::load(st);
        proto::release(st, w);
    }

    /// Client `client` takes slot `slot` back if it can: it is free or
    /// loaned (by a dead owner of the record), its response was never
    /// read, its request was never taken, or the server that took it
    /// (`TAKEN(e)`) is not `live`. `false`: a live server holds it.
    pub fn reclaim(&self, client: usize, slot: usize, live: Option<u32>) -> bool {
        let st = &self.slot(client, slot).state;
        for _ in 0..4 {
            let w = proto::load(st);
            match proto::state_of(w) {
                proto::FREE => return true,
                proto::REQUESTED => {
                    if proto::cancel(st) {
                        return true;
                    }
                }
                proto::TAKEN if Some(proto::epoch_of(w)) == live => return false,
                _ => {
                    if proto::release(st, w) {
                        return true;
                    }
                }
            }
        }
        false
    }

    // ---- server side ----

    /// Takes the next posted request of a claimed client, scanning from
    /// position `start` (client x slots + slot) round-robin. Returns it and
    /// the position after it.
    pub fn take_next(&self, epoch: u32, start: usize) -> Option<(Taken, usize)> {
        let c = self.config.max_clients as usize;
        let k = self.config.slots_per_client as usize;
        let mask = self.directory().clients.load(Ordering::Acquire);
        let n = c * k;
        let start = start % n;
        for i in 0..n {
            let pos = (start + i) % n;
            let (client, slot) = (pos / k, pos % k);
            if mask & (1u64 << client) == 0 {
                continue;
            }
            let h = self.slot(client, slot);
            if proto::state_of(h.state.load(Ordering::Relaxed)) != proto::REQUESTED
                || !proto::take(&h.state, epoch)
            {
                continue;
            }
            let elems = h.request_elems.load(Ordering::Relaxed);
            return Some((
                Taken {
                    client,
                    slot,
                    epoch,
                    elems,
                },
                pos + 1,
            ));
        }
        None
    }

    /// Whether a claimed client has a request posted (no system call).
    pub fn has_request(&self) -> bool {
        let c = self.config.max_clients as usize;
        let k = self.config.slots_per_client as usize;
        let mask = self.directory().clients.load(Ordering::Acquire);
        (0..c).filter(|i| mask & (1u64 << i) != 0).any(|i| {
            (0..k).any(|s| {
                proto::state_of(self.slot(i, s).state.load(Ordering::Relaxed)) == proto::REQUESTED
            })
        })
    }

    /// The request bytes of a taken slot (its whole request capacity).
    pub fn request<'a>(&'a self, taken: &'a Taken) -> &'a [u8] {
        let (p, cap) = self.bytes(taken.client, taken.slot, true);
        // SAFETY: (1) in bounds (`bytes`); (2) the client handed the slot
        // over (the take's Acquire CAS read its Release post) and writes it
        // no more while it is TAKEN; `Taken` is unique (one CAS succeeds),
        // and only `response_mut` (other bytes) writes through it.
        unsafe { std::slice::from_raw_parts(p, cap) }
    }

    /// The response bytes of a taken slot (its whole response capacity).
    pub fn response_mut<'a>(&'a self, taken: &'a mut Taken) -> &'a mut [u8] {
        let (p, cap) = self.bytes(taken.client, taken.slot, false);
        // SAFETY: (1) in bounds (`bytes`), and disjoint from the request
        // bytes (`response_offset >= request_offset + request_capacity`);
        // (2) the server owns a TAKEN slot; `Taken` is unique and borrowed
        // mutably for the slice's lifetime.
        unsafe { std::slice::from_raw_parts_mut(p, cap) }
    }

    /// The response bytes of a taken slot, shared.
    pub fn response_view<'a>(&'a self, taken: &'a Taken) -> &'a [u8] {
        let (p, cap) = self.bytes(taken.client, taken.slot, false);
        // SAFETY: as in `response_mut`; a shared borrow of the unique
        // `Taken` excludes the mutable view for the slice's lifetime.
        unsafe { std::slice::from_raw_parts(p, cap) }
    }

    /// Hands a taken slot back with a response of `elems` trailing
    /// elements (`None`: declined), and wakes its client if it sleeps.
    pub fn answer(&self, taken: Taken, elems: Option<u64>) {
        let h = self.slot(taken.client, taken.slot);
        h.response_elems
            .store(elems.unwrap_or(0), Ordering::Relaxed);
        proto::answer(&h.state, taken.epoch, elems.is_none());
        // Only the server writes it: no read-modify-write needed.
        let served = &self.server().served;
        served.store(served.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
        let rec = self.client(taken.client);
        if crate::wake::handshake::to_wake(&rec.sleepers) != 0 {
            crate::wake::handshake::bump(&rec.word);
            crate::wake::futex_wake_shared(&rec.word);
        }
    }
}

/// A loaned slot: the client writes a request into it.
#[derive(Debug)]
pub(crate) struct Loaned {
    client: usize,
    slot: usize,
}

/// A posted request.
#[derive(Debug)]
pub(crate) struct Posted {
    client: usize,
    slot: usize,
    epoch: u32,
}

impl Posted {
    /// Its slot.
    pub fn slot(&self) -> usize {
        self.slot
    }
}

/// A slot the server answered (or declined); the client reads it.
#[derive(Debug)]
pub(crate) struct Answered {
    client: usize,
    slot: usize,
    /// The server dropped the request unanswered.
    pub declined: bool,
    /// Trailing elements of the response, as the server wrote them (unchecked).
    pub elems: u64,
}

impl Answered {
    /// Its slot.
    pub fn slot(&self) -> usize {
        self.slot
    }
}

/// What [`ServiceSegment::poll`] found.
#[derive(Debug)]
pub(crate) enum Poll {
    /// Not answered yet.
    Waiting(Posted),
    /// Answered or declined.
    Answered(Answered),
}

/// A request the server took.
#[derive(Debug)]
pub(crate) struct Taken {
    client: usize,
    slot: usize,
    epoch: u32,
    /// Trailing elements of the request, as the client wrote them (unchecked).
    pub elems: u64,
}

impl Taken {
    /// The client record it came from.
    pub fn client(&self) -> usize {
        self.client
    }
}

/// The rule of `segment::remove_if_unused` for service files: under the
/// exclusive admin lock, only if no record lock is held and the path still
/// names the file.
fn unlink_if_unheld(file: &SegmentFile, path: &Path, info: &FileInfo, max_clients: u32) -> bool {
    let _ = max_clients;
    if !matches!(
        file.is_range_locked_by_other(1, 1 + MAX_CLIENTS as u64),
        Ok(false)
    ) {
        return false;
    }
    if !sys::same_file(path, info) {
        return false;
    }
    std::fs::remove_file(path).is_ok()
}

fn replace_file_if_unused(
    file: &SegmentFile,
    path: &Path,
    why: Unusable,
) -> Result<(), ServiceError> {
    let (Unusable::Invalid(e) | Unusable::Incompatible(e)) = why;
    let info = file.info().map_err(|e| ServiceError::io(path, e))?;
    if !matches!(file.try_lock(ADMIN_LOCK, true), Ok(true)) {
        return Err(e);
    }
    let removed = unlink_if_unheld(file, path, &info, MAX_CLIENTS);
    let _ = file.unlock(ADMIN_LOCK);
    if removed || !sys::same_file(path, &info) {
        Ok(())
    } else {
        Err(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_are_two_lines_and_slots_share_a_line_for_small_payloads() {
        assert_eq!(std::mem::size_of::<ServerRecord>(), 256);
        assert_eq!(std::mem::size_of::<ClientRecord>(), 256);
        assert_eq!(std::mem::size_of::<SlotHeader>(), SLOT_HEADER);
        let mut c = ServiceConfig {
            name: [0; 256],
            name_len: 0,
            max_clients: 4,
            slots_per_client: 2,
            reserved: 0,
            request: Shape {
                name: [0; 128],
                name_len: 0,
                description_len: 0,
                fingerprint: 1,
                fixed_size: 8,
                elem_size: 0,
                max_elems: 0,
            },
            response: Shape {
                name: [0; 128],
                name_len: 0,
                description_len: 0,
                fingerprint: 2,
                fixed_size: 8,
                elem_size: 0,
                max_elems: 0,
            },
        };
        let l = ServiceLayout::compute(&c).unwrap();
        assert_eq!(l.slot_size, LINE);
        assert_eq!(l.total, l.slots + 8 * LINE);
        c.response.elem_size = 1;
        c.response.max_elems = u64::MAX;
        assert!(ServiceLayout::compute(&c).is_none());
    }
}
