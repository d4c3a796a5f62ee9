//! The real tests of services: servers and clients in separate processes,
//! real shared memory, real SIGKILL.
//!
//! This binary is its own peer: run normally it lists the trials below;
//! run with `AXON_TEST_ROLE` set it plays one participant (see `role_*`)
//! and reports on stdout, one `key=value ...` line per event. Every child
//! is killed when its guard drops, and every wait has a deadline (a
//! watchdog): no trial can hang.

use std::time::{Duration, Instant};

use axon::zerocopy::{FromBytes, Immutable, KnownLayout};
use axon::{CallError, Message, Node, ServiceError};
use libtest_mimic::{Arguments, Failed, Trial};

mod support;

use support::peer::{arg, ensure, role_env, Args, Peer, TestDomain, WAIT};

#[axon::message]
#[derive(Debug, Clone, Copy, PartialEq)]
struct AddRequest {
    client: u64,
    seq: u64,
    value: u64,
}

#[axon::message]
#[derive(Debug, Clone, Copy, PartialEq)]
struct AddResponse {
    client: u64,
    seq: u64,
    value: u64,
}

#[axon::message]
#[derive(Debug, Clone, Copy, PartialEq)]
struct Other {
    x: f32,
}

#[derive(FromBytes, KnownLayout, Immutable, Message)]
#[repr(C)]
struct Blob {
    tag: u64,
    data: [u8],
}

const SERVICE: &str = "/add";

fn answer(r: &AddRequest) -> AddResponse {
    AddResponse {
        client: r.client,
        seq: r.seq,
        value: r.value.wrapping_mul(3).wrapping_add(r.client),
    }
}

// ---------------------------------------------------------------- harness

fn node(domain: &str, name: &str) -> Node {
    support::node_in(domain, name)
}

// ---------------------------------------------------------------- roles

fn run_role(role: &str) -> i32 {
    let (domain, a) = role_env();
    let node = node(&domain, &format!("{role}-{}", std::process::id()));
    let r = match role {
        "server" => role_server(&node, &a),
        "client" => role_client(&node, &a),
        "waiter" => role_waiter(&node, &a),
        "ws-waiter" => role_ws_waiter(&node, &a),
        "exec-server" => role_exec_server(&node),
        _ => Err(format!("unknown role {role}")),
    };
    match r {
        Ok(()) => 0,
        Err(e) => {
            println!("error {e}");
            1
        }
    }
}

fn wait_stdin_go() {
    let mut line = String::new();
    let _ = std::io::stdin().read_line(&mut line);
}

/// A server. `mode=echo` answers every request at once, `count` of them
/// (0: forever); `mode=reverse` takes `batch` requests, then answers them
/// last first; `mode=hold` takes `hold` requests, prints `held`, waits for
/// "go" on stdin (or its SIGKILL), answers them, then echoes forever.
fn role_server(node: &Node, a: &Args) -> Result<(), String> {
    let server = node
        .service::<AddRequest, AddResponse>(SERVICE)
        .max_clients(arg(a, "clients", 16))
        .create()
        .map_err(|e| e.to_string())?;
    println!("ready pid={}", std::process::id());
    let mode = arg(a, "mode", "echo".to_string());
    let count: u64 = arg(a, "count", 0);
    let mut served = 0u64;
    if mode == "reverse" {
        let batch: usize = arg(a, "batch", 4);
        let mut held = Vec::new();
        while held.len() < batch {
            held.push(
                server
                    .recv_request_timeout(WAIT)
                    .map_err(|e| e.to_string())?,
            );
        }
        while let Some(r) = held.pop() {
            let resp = answer(&r);
            r.reply(&resp).map_err(|e| e.to_string())?;
        }
        println!("answered n={batch}");
        return Ok(());
    }
    if mode == "hold" {
        let n: usize = arg(a, "hold", 1);
        let mut held = Vec::new();
        while held.len() < n {
            held.push(
                server
                    .recv_request_timeout(WAIT)
                    .map_err(|e| e.to_string())?,
            );
        }
        println!("held n={n}");
        wait_stdin_go();
        for r in held {
            let resp = answer(&r);
            r.reply(&resp).map_err(|e| e.to_string())?;
        }
        println!("released");
    }
    loop {
        let r = match server.recv_request_timeout(WAIT) {
            Ok(r) => r,
            Err(axon::ServeError::Shutdown) => return Ok(()),
            Err(e) => return Err(e.to_string()),
        };
        let resp = answer(&r);
        r.reply(&resp).map_err(|e| e.to_string())?;
        served += 1;
        if served == count {
            println!("served n={served} corrupt={}", server.corrupt());
            return Ok(());
        }
    }
}

/// A client: `count` calls, `inflight` of them in flight at once (sent,
/// then waited in order); checks that every response is its own.
fn role_client(node: &Node, a: &Args) -> Result<(), String> {
    let id: u64 = arg(a, "id", 1);
    let count: u64 = arg(a, "count", 100);
    let inflight: usize = arg(a, "inflight", 1);
    let client = node
        .client::<AddRequest, AddResponse>(SERVICE)
        .create()
        .map_err(|e| e.to_string())?;
    client
        .wait_for_service(WAIT)
        .map_err(|e| format!("no server: {e}"))?;
    println!("ready");
    let mut seq = 0u64;
    let mut ok = 0u64;
    while seq < count {
        let mut pending = Vec::new();
        while pending.len() < inflight && seq < count {
            let req = AddRequest {
                client: id,
                seq,
                value: seq * 7 + id,
            };
            pending.push((req, client.send(&req).map_err(|e| e.to_string())?));
            seq += 1;
        }
        for (req, p) in pending {
            let resp = p.wait(WAIT).map_err(|e| format!("seq {}: {e}", req.seq))?;
            if *resp != answer(&req) {
                return Err(format!("seq {}: got {:?} for {:?}", req.seq, *resp, req));
            }
            ok += 1;
        }
    }
    println!("done ok={ok}");
    Ok(())
}

/// A server written as an executor callback (it sleeps in the executor's
/// wait set between requests), with a timer beside it.
fn role_exec_server(node: &Node) -> Result<(), String> {
    let server = node
        .service::<AddRequest, AddResponse>(SERVICE)
        .create()
        .map_err(|e| e.to_string())?;
    println!("ready pid={}", std::process::id());
    let spun = node
        .executor()
        .on_request(&server, |r| {
            let a = answer(&r);
            r.reply(&a)
        })
        .every(Duration::from_millis(10), || {})
        .spin()
        .map_err(|e| e.to_string());
    spun
}

/// Sends `inflight` requests, prints `sent`, then waits for each at most
/// `timeout_ms` and prints what each wait returned.
fn role_waiter(node: &Node, a: &Args) -> Result<(), String> {
    let id: u64 = arg(a, "id", 1);
    let inflight: u64 = arg(a, "inflight", 4);
    let timeout = Duration::from_millis(arg(a, "timeout_ms", 60_000));
    let client = node
        .client::<AddRequest, AddResponse>(SERVICE)
        .create()
        .map_err(|e| e.to_string())?;
    client.wait_for_service(WAIT).map_err(|e| e.to_string())?;
    let pending: Vec<_> = (0..inflight)
        .map(|seq| {
            client.send(&AddRequest {
                client: id,
                seq,
                value: seq,
            })
        })
        .collect::<Result<_, _>>()
        .map_err(|e| e.to_string())?;
    println!("sent n={inflight}");
    let mut gone = 0;
    for p in pending {
        match p.wait(timeout) {
            Err(CallError::ServerGone { .. }) => gone += 1,
            Err(e) => println!("other err={e:?}"),
            Ok(r) => println!("other answered seq={}", r.seq),
        }
    }
    println!("waited gone={gone}");
    Ok(())
}

/// Sends `inflight` requests, registers every `Pending` in one wait set,
/// prints `sent`, then sleeps in the wait set until each call is answered
/// (`Event::Data`, then `try_recv` must give its own response) or its
/// server died (`Event::ServerGone`, then `try_recv` must give
/// `ServerGone`). A wait that returns nothing within 30 s is an error.
fn role_ws_waiter(node: &Node, a: &Args) -> Result<(), String> {
    let id: u64 = arg(a, "id", 1);
    let inflight: u64 = arg(a, "inflight", 3);
    let client = node
        .client::<AddRequest, AddResponse>(SERVICE)
        .create()
        .map_err(|e| e.to_string())?;
    client.wait_for_service(WAIT).map_err(|e| e.to_string())?;
    let calls: Vec<_> = (0..inflight)
        .map(|seq| {
            let req = AddRequest {
                client: id,
                seq,
                value: seq * 11,
            };
            client.send(&req).map(|p| (req, p))
        })
        .collect::<Result<_, _>>()
        .map_err(|e| e.to_string())?;
    let mut ws = node.wait_set().map_err(|e| e.to_string())?;
    let keys: Vec<axon::Key> = calls
        .iter()
        .map(|(_, p)| ws.pending(p))
        .collect::<Result<_, _>>()
        .map_err(|e| e.to_string())?;
    println!("sent n={inflight}");
    let (mut answered, mut gone, mut wakes) = (0u64, 0u64, 0u64);
    while answered + gone < inflight {
        let ready = ws.wait_timeout(WAIT).map_err(|e| e.to_string())?;
        if ready.is_empty() {
            return Err(format!("wait set: nothing within {WAIT:?}"));
        }
        wakes += 1;
        for (i, (req, p)) in calls.iter().enumerate() {
            match ready.get(keys[i]) {
                None => {}
                Some(axon::Event::Data) => match p.try_recv() {
                    Ok(Some(r)) if *r == answer(req) => answered += 1,
                    other => return Err(format!("seq {}: Data, then {other:?}", req.seq)),
                },
                Some(axon::Event::ServerGone) => match p.try_recv() {
                    Err(CallError::ServerGone { .. }) => gone += 1,
                    other => return Err(format!("seq {}: ServerGone, then {other:?}", req.seq)),
                },
                Some(e) => return Err(format!("seq {}: unexpected {e:?}", req.seq)),
            }
        }
    }
    println!("waited answered={answered} gone={gone} wakes={wakes}");
    Ok(())
}

// ---------------------------------------------------------------- trials

/// A client process registers three calls in a wait set and sleeps there;
/// a server process holds all three, then answers them: the wait set wakes
/// and every `try_recv` gives the call's own response.
fn pending_in_wait_set_wakes_when_server_process_answers() -> Result<(), Failed> {
    let d = TestDomain::new("sv", "ws-answer");
    let mut server = Peer::spawn(
        "server",
        &d.0,
        &[("mode", "hold".into()), ("hold", "3".into())],
    );
    server.expect("ready")?;
    let mut waiter = Peer::spawn("ws-waiter", &d.0, &[("inflight", "3".into())]);
    waiter.expect("sent")?;
    server.expect("held")?;
    server.go();
    let r = waiter.expect("waited")?;
    ensure(
        r["answered"] == "3" && r["gone"] == "0",
        format!("every call answered through the wait set: {}", r["line"]),
    )?;
    waiter.wait_exit()?;
    Ok(())
}

/// The same, but the server process is SIGKILLed holding two of the
/// three calls (the third is posted, not taken): the wait set reports
/// `ServerGone` for every call (within a liveness slice, though its wait
/// is 30 s) and `try_recv` then returns `ServerGone`.
fn pending_in_wait_set_reports_server_gone_on_sigkill() -> Result<(), Failed> {
    let d = TestDomain::new("sv", "ws-gone");
    let mut server = Peer::spawn(
        "server",
        &d.0,
        &[("mode", "hold".into()), ("hold", "2".into())],
    );
    server.expect("ready")?;
    let mut waiter = Peer::spawn("ws-waiter", &d.0, &[("inflight", "3".into())]);
    waiter.expect("sent")?;
    server.expect("held")?;
    server.sigkill();
    let r = waiter.expect("waited")?;
    ensure(
        r["answered"] == "0" && r["gone"] == "3",
        format!("every call ServerGone through the wait set: {}", r["line"]),
    )?;
    waiter.wait_exit()?;
    Ok(())
}

/// Four client processes, one server process: 2000 calls each, 4 in
/// flight at a time; every response carries its caller's id and sequence
/// number and the value computed from its own request.
fn n_clients_one_server_every_response_reaches_its_caller() -> Result<(), Failed> {
    let d = TestDomain::new("sv", "n-to-1");
    let server = Peer::spawn("server", &d.0, &[("count", "8000".into())]);
    server.expect("ready")?;
    let mut clients: Vec<Peer> = (1..=4)
        .map(|id| {
            Peer::spawn(
                "client",
                &d.0,
                &[
                    ("id", id.to_string()),
                    ("count", "2000".into()),
                    ("inflight", "4".into()),
                ],
            )
        })
        .collect();
    for c in &clients {
        let done = c.expect("done")?;
        ensure(done["ok"] == "2000", done["line"].to_string())?;
    }
    let served = server.expect("served")?;
    ensure(served["corrupt"] == "0", served["line"].clone())?;
    for c in &mut clients {
        c.wait_exit()?;
    }
    Ok(())
}

/// A server registered on an executor (`on_request`), sleeping in its wait
/// set: two client processes' calls, one and four in flight, all answered.
fn executor_callback_serves_every_call() -> Result<(), Failed> {
    let d = TestDomain::new("sv", "exec");
    let server = Peer::spawn("exec-server", &d.0, &[]);
    server.expect("ready")?;
    let mut clients: Vec<Peer> = [1, 4]
        .iter()
        .map(|inflight| {
            Peer::spawn(
                "client",
                &d.0,
                &[
                    ("id", inflight.to_string()),
                    ("count", "500".into()),
                    ("inflight", inflight.to_string()),
                ],
            )
        })
        .collect();
    for c in &mut clients {
        let done = c.expect("done")?;
        ensure(done["ok"] == "500", done["line"].to_string())?;
        c.wait_exit()?;
    }
    Ok(())
}

/// The server takes four requests and answers them last first; each
/// pending call of the (this) client still gets its own response.
fn out_of_order_replies_reach_their_callers() -> Result<(), Failed> {
    let d = TestDomain::new("sv", "reverse");
    let server = Peer::spawn(
        "server",
        &d.0,
        &[("mode", "reverse".into()), ("batch", "4".into())],
    );
    server.expect("ready")?;
    let n = node(&d.0, "caller");
    let client = n.client::<AddRequest, AddResponse>(SERVICE).create()?;
    client.wait_for_service(WAIT)?;
    let reqs: Vec<AddRequest> = (0..4)
        .map(|seq| AddRequest {
            client: 9,
            seq,
            value: 100 + seq,
        })
        .collect();
    let mut pending: Vec<_> = reqs
        .iter()
        .map(|r| client.send(r))
        .collect::<Result<_, _>>()?;
    ensure(
        matches!(client.send(&reqs[0]), Err(CallError::Full { max: 4, .. })),
        "a fifth request with 4 in flight must be Full",
    )?;
    // The last one sent is answered first: poll the first until all are in.
    server.expect("answered")?;
    for (p, r) in pending.iter_mut().zip(&reqs).rev() {
        let resp = p.wait_mut(WAIT)?;
        ensure(*resp == answer(r), format!("{:?} for {r:?}", *resp))?;
    }
    Ok(())
}

/// A server that holds a request: the call times out with `Timeout`
/// (not `ServerGone`); the slot comes back once the server answers, and
/// a call after that works.
fn timeout_then_late_answer_frees_the_slot() -> Result<(), Failed> {
    let d = TestDomain::new("sv", "timeout");
    let mut server = Peer::spawn(
        "server",
        &d.0,
        &[("mode", "hold".into()), ("hold", "1".into())],
    );
    server.expect("ready")?;
    let n = node(&d.0, "caller");
    let client = n
        .client::<AddRequest, AddResponse>(SERVICE)
        .max_in_flight(1)
        .create()?;
    client.wait_for_service(WAIT)?;
    let req = AddRequest {
        client: 1,
        seq: 1,
        value: 1,
    };
    let mut p = client.send(&req)?;
    server.expect("held")?;
    let r = p.wait_mut(Duration::from_millis(50)).map(drop);
    ensure(matches!(r, Err(CallError::Timeout)), format!("got {r:?}"))?;
    drop(p);
    // Its one slot is held by the live server: Full, not a silent loss.
    let r = client.send(&req).map(drop);
    ensure(
        matches!(r, Err(CallError::Full { .. })),
        format!("got {r:?}"),
    )?;
    server.go();
    server.expect("released")?;
    let deadline = Instant::now() + WAIT;
    loop {
        match client.call(&req, WAIT) {
            Ok(resp) => {
                ensure(*resp == answer(&req), "wrong answer after the timeout")?;
                return Ok(());
            }
            Err(CallError::Full { .. }) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(1))
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// Three client processes with 4 calls in flight each; the server holds 5
/// of the 12 (TAKEN) and has not taken the rest (REQUESTED); SIGKILL it:
/// every call fails with `ServerGone` (none with Timeout, though each
/// waits up to 60 s), and a new server serves a new client at once.
fn server_sigkilled_with_calls_in_flight_every_caller_gets_server_gone() -> Result<(), Failed> {
    let d = TestDomain::new("sv", "server-kill");
    let mut server = Peer::spawn(
        "server",
        &d.0,
        &[("mode", "hold".into()), ("hold", "5".into())],
    );
    server.expect("ready")?;
    let mut waiters: Vec<Peer> = (1..=3)
        .map(|id| {
            Peer::spawn(
                "waiter",
                &d.0,
                &[("id", id.to_string()), ("inflight", "4".into())],
            )
        })
        .collect();
    for w in &waiters {
        w.expect("sent")?;
    }
    server.expect("held")?;
    server.sigkill();
    for w in &mut waiters {
        let r = w.expect("waited")?;
        ensure(
            r["gone"] == "4",
            format!("every call must be ServerGone: {}", r["line"]),
        )?;
        w.wait_exit()?;
    }
    let server2 = Peer::spawn("server", &d.0, &[("count", "10".into())]);
    server2.expect("ready")?;
    let client = Peer::spawn("client", &d.0, &[("count", "10".into())]);
    let done = client.expect("done")?;
    ensure(done["ok"] == "10", done["line"].clone())?;
    server2.expect("served")?;
    Ok(())
}

/// One client record only (`max_clients = 1`). A client process sends 4
/// calls, the server holds 2 of them, the client is SIGKILLed; the server
/// then answers the dead client's calls. A new client must claim the dead
/// one's record and its slots: the next thousand calls all work.
fn client_sigkilled_mid_call_next_thousand_calls_work() -> Result<(), Failed> {
    let d = TestDomain::new("sv", "client-kill");
    let mut server = Peer::spawn(
        "server",
        &d.0,
        &[
            ("mode", "hold".into()),
            ("hold", "2".into()),
            ("clients", "1".into()),
        ],
    );
    server.expect("ready")?;
    let mut doomed = Peer::spawn(
        "waiter",
        &d.0,
        &[("id", "5".into()), ("inflight", "4".into())],
    );
    doomed.expect("sent")?;
    server.expect("held")?;
    doomed.sigkill();
    server.go();
    server.expect("released")?;
    let mut client = Peer::spawn(
        "client",
        &d.0,
        &[("count", "1000".into()), ("inflight", "4".into())],
    );
    let done = client.expect("done")?;
    ensure(done["ok"] == "1000", done["line"].clone())?;
    client.wait_exit()?;
    Ok(())
}

/// A client with another response type is refused, naming both types of
/// both sides; so is a second server, naming the holder.
fn wrong_types_and_second_server_are_refused_by_name() -> Result<(), Failed> {
    let d = TestDomain::new("sv", "types");
    let server = Peer::spawn("server", &d.0, &[]);
    let ready = server.expect("ready")?;
    let n = node(&d.0, "wrong");
    let e = n
        .client::<AddRequest, Other>(SERVICE)
        .create()
        .expect_err("another response type must be refused");
    let msg = e.to_string();
    ensure(matches!(e, ServiceError::TypeMismatch { .. }), msg.clone())?;
    for name in ["AddRequest", "AddResponse", "Other"] {
        ensure(msg.contains(name), format!("{name} missing from: {msg}"))?;
    }
    let e = n
        .client::<Other, AddResponse>(SERVICE)
        .create()
        .expect_err("another request type must be refused");
    ensure(e.to_string().contains("Other"), e.to_string())?;
    let e = n
        .service::<AddRequest, AddResponse>(SERVICE)
        .create()
        .expect_err("a second server must be refused");
    let msg = e.to_string();
    ensure(
        matches!(e, ServiceError::ServerExists { .. }) && msg.contains(&ready["pid"]),
        format!("must name the holder's pid {}: {msg}", ready["pid"]),
    )?;
    Ok(())
}

/// A slice response of 1 MiB, written in place by the server
/// (`loan_reply_slice`) and read in place by the client, intact.
fn one_mib_slice_response_arrives_intact() -> Result<(), Failed> {
    let d = TestDomain::new("sv", "blob");
    let n = node(&d.0, "blob");
    let server = n
        .service::<AddRequest, Blob>("/blob")
        .max_response_len(1 << 20)
        .create()?;
    let client = n
        .client::<AddRequest, Blob>("/blob")
        .max_response_len(1 << 20)
        .create()?;
    for round in 0..3u64 {
        let p = client.send(&AddRequest {
            client: 1,
            seq: round,
            value: round,
        })?;
        let r = server.recv_request_timeout(WAIT)?;
        let seq = r.seq;
        let mut loan = r.loan_reply_slice(1 << 20)?;
        loan.tag = seq;
        for (i, b) in loan.data.iter_mut().enumerate() {
            *b = (i as u64 ^ seq) as u8;
        }
        loan.send();
        let resp = p.wait(WAIT)?;
        ensure(
            resp.tag == round && resp.data.len() == 1 << 20,
            "wrong length or tag",
        )?;
        ensure(
            resp.data
                .iter()
                .enumerate()
                .all(|(i, b)| *b == (i as u64 ^ round) as u8),
            "corrupted bytes",
        )?;
    }
    ensure(server.max_response_len() == 1 << 20, "max_response_len")?;
    Ok(())
}

/// A request dropped unanswered answers `Declined`; a call with no server
/// ever is `NoServer`; `service_is_ready` follows the server.
fn declined_and_no_server_are_reported() -> Result<(), Failed> {
    let d = TestDomain::new("sv", "declined");
    let n = node(&d.0, "x");
    let client = n.client::<AddRequest, AddResponse>(SERVICE).create()?;
    let req = AddRequest {
        client: 1,
        seq: 1,
        value: 1,
    };
    ensure(!client.service_is_ready(), "ready without a server")?;
    let r = client.send(&req).map(drop);
    ensure(
        matches!(r, Err(CallError::NoServer { .. })),
        format!("{r:?}"),
    )?;
    ensure(
        matches!(
            client.wait_for_service(Duration::from_millis(20)),
            Err(CallError::Timeout)
        ),
        "wait_for_service must time out",
    )?;
    let server = n.service::<AddRequest, AddResponse>(SERVICE).create()?;
    ensure(client.service_is_ready(), "not ready with a server")?;
    let p = client.send(&req)?;
    drop(server.recv_request_timeout(WAIT)?);
    ensure(
        matches!(p.wait(WAIT), Err(CallError::Declined { .. })),
        "not Declined",
    )?;
    drop(server);
    ensure(!client.service_is_ready(), "ready after the server left")?;
    let mut p = client.send(&req)?;
    let r = p.wait_mut(WAIT).map(drop);
    ensure(
        matches!(r, Err(CallError::ServerGone { .. })),
        format!("a call to a server that left must be ServerGone: {r:?}"),
    )?;
    // Regression (found by the service_image corpus replay): polling a
    // call again after its final error panicked ("a pending call holds its
    // slot until answered").
    let r = p.try_recv().map(|r| r.map(drop));
    ensure(matches!(r, Err(CallError::Finished)), format!("{r:?}"))?;
    let r = p.wait_mut(WAIT).map(drop);
    ensure(matches!(r, Err(CallError::Finished)), format!("{r:?}"))?;
    Ok(())
}

/// The service's file mapped writable, as a hostile process of the same
/// user can, with its layout; and the address of a slot's header words.
struct Hostile {
    map: memmap2::MmapRaw,
    layout: axon::service::layout::ServiceLayout,
    slots_per_client: usize,
    path: std::path::PathBuf,
}

impl Hostile {
    fn new(n: &Node, name: &str) -> Hostile {
        use axon::service::layout::{service_path, ServiceHeader, ServiceLayout};
        let path = service_path(n.domain(), &axon::TopicName::new(name).unwrap());
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .unwrap();
        let map = memmap2::MmapRaw::map_raw(&file).unwrap();
        // SAFETY: the file starts with a ServiceHeader (the service exists
        // and was validated by `n`'s participants); its config is copied out.
        let config =
            unsafe { std::ptr::read_volatile(&(*(map.as_ptr() as *const ServiceHeader)).config) };
        Hostile {
            layout: ServiceLayout::compute(&config).unwrap(),
            slots_per_client: config.slots_per_client as usize,
            map,
            path,
        }
    }

    /// Word `word` (0 state, 1 request elems, 2 response elems) of a slot.
    fn write(&self, client: usize, slot: usize, word: usize, value: u64) {
        let at = self.layout.slots
            + (client * self.slots_per_client + slot) * self.layout.slot_size
            + word * 8;
        assert!(at + 8 <= self.map.len());
        // SAFETY: in bounds (checked), 8-aligned (slots are 128-aligned);
        // the store is atomic, as a peer's would be.
        unsafe {
            (*(self.map.as_mut_ptr().add(at) as *const std::sync::atomic::AtomicU64))
                .store(value, std::sync::atomic::Ordering::SeqCst)
        };
    }

    fn poke(&self, at: usize, value: u8) {
        assert!(at < self.map.len());
        // SAFETY: in bounds (checked); a byte store into shared memory.
        unsafe { self.map.as_mut_ptr().add(at).write_volatile(value) };
    }
}

/// Garbage written into a live service's segment by a same-user process:
/// an element count that does not fit (the server declines the request
/// unread, counted; the caller gets `Declined`), a response count that does
/// not fit (the caller gets `Corrupted`), garbage in every state word and
/// the client mask (no panic, no hang; calls fail or succeed), a bad
/// header (a newcomer gets `Corrupted`, tools too), a truncated file
/// (`SegmentTruncated`, never a SIGBUS); once everyone left, the name
/// works again.
fn hostile_service_segment_gives_errors_never_a_crash() -> Result<(), Failed> {
    let d = TestDomain::new("sv", "hostile");
    let n = node(&d.0, "victim");
    let req = AddRequest {
        client: 1,
        seq: 1,
        value: 1,
    };
    {
        let server = n.service::<AddRequest, AddResponse>("/h").create()?;
        let client = n.client::<AddRequest, AddResponse>("/h").create()?;
        let h = Hostile::new(&n, "/h");
        let p = client.send(&req)?;
        h.write(0, 0, 1, u64::MAX);
        ensure(
            server.try_recv_request()?.is_none(),
            "a request that does not fit was served",
        )?;
        ensure(server.corrupt() == 1, "not counted")?;
        let r = p.wait(WAIT);
        ensure(
            matches!(r, Err(CallError::Declined { .. })),
            format!("{r:?}"),
        )?;

        let p = client.send(&req)?;
        let r = server.try_recv_request()?.expect("posted");
        r.reply(&answer(&req))?;
        h.write(0, 0, 2, 1 << 40);
        let r = p.wait(WAIT).map(drop);
        ensure(
            matches!(r, Err(CallError::Corrupted { .. })),
            format!("{r:?}"),
        )?;

        for s in 0..4 {
            h.write(0, s, 0, 0xdead_beef_0000_0000 | (s as u64 + 1));
        }
        let dir = h.layout.directory;
        for i in 0..8 {
            h.poke(dir + i, 0xff);
        }
        for _ in 0..3 {
            let _ = server.try_recv_request().map(|r| r.map(drop));
            if let Ok(mut p) = client.send(&req) {
                let _ = p.wait_mut(Duration::from_millis(5)).map(drop);
            }
        }

        h.poke(0, b'X');
        let e = n
            .client::<AddRequest, AddResponse>("/h")
            .create()
            .expect_err("a bad magic must be refused");
        ensure(matches!(e, ServiceError::Corrupted { .. }), e.to_string())?;
        let e = axon::service::inspect(n.domain(), &axon::TopicName::new("/h").unwrap());
        ensure(
            matches!(e, Err(ServiceError::Corrupted { .. })),
            format!("{e:?}"),
        )?;

        std::fs::OpenOptions::new()
            .write(true)
            .open(&h.path)?
            .set_len(0)?;
        let mut truncated = false;
        for _ in 0..3 {
            if matches!(
                server.try_recv_request().map(|r| r.map(drop)),
                Err(axon::ServeError::SegmentTruncated { .. })
            ) {
                truncated = true;
            }
            if matches!(
                client.send(&req).map(drop),
                Err(CallError::SegmentTruncated { .. })
            ) {
                truncated = true;
            }
        }
        ensure(truncated, "a truncated segment must be reported")?;
    }
    let server = n.service::<AddRequest, AddResponse>("/h").create()?;
    let client = n.client::<AddRequest, AddResponse>("/h").create()?;
    let p = client.send(&req)?;
    server.recv_request_timeout(WAIT)?.reply(&answer(&req))?;
    ensure(*p.wait(WAIT)? == answer(&req), "service made again works")?;
    Ok(())
}

fn main() {
    if let Ok(role) = std::env::var("AXON_TEST_ROLE") {
        std::process::exit(run_role(&role));
    }
    let args = Arguments::from_args();
    let trials = vec![
        Trial::test(
            "n_clients_one_server_every_response_reaches_its_caller",
            n_clients_one_server_every_response_reaches_its_caller,
        ),
        Trial::test(
            "executor_callback_serves_every_call",
            executor_callback_serves_every_call,
        ),
        Trial::test(
            "out_of_order_replies_reach_their_callers",
            out_of_order_replies_reach_their_callers,
        ),
        Trial::test(
            "timeout_then_late_answer_frees_the_slot",
            timeout_then_late_answer_frees_the_slot,
        ),
        Trial::test(
            "server_sigkilled_with_calls_in_flight_every_caller_gets_server_gone",
            server_sigkilled_with_calls_in_flight_every_caller_gets_server_gone,
        ),
        Trial::test(
            "client_sigkilled_mid_call_next_thousand_calls_work",
            client_sigkilled_mid_call_next_thousand_calls_work,
        ),
        Trial::test(
            "wrong_types_and_second_server_are_refused_by_name",
            wrong_types_and_second_server_are_refused_by_name,
        ),
        Trial::test(
            "one_mib_slice_response_arrives_intact",
            one_mib_slice_response_arrives_intact,
        ),
        Trial::test(
            "hostile_service_segment_gives_errors_never_a_crash",
            hostile_service_segment_gives_errors_never_a_crash,
        ),
        Trial::test(
            "pending_in_wait_set_wakes_when_server_process_answers",
            pending_in_wait_set_wakes_when_server_process_answers,
        ),
        Trial::test(
            "pending_in_wait_set_reports_server_gone_on_sigkill",
            pending_in_wait_set_reports_server_gone_on_sigkill,
        ),
        Trial::test(
            "declined_and_no_server_are_reported",
            declined_and_no_server_are_reported,
        ),
    ];
    libtest_mimic::run(&args, trials).exit();
}
