//! A node: one process's identity on the robot, and the factory of its
//! publishers and subscribers.
//!
//! `Node::new("camera")` reads the configuration the launcher hands over in
//! the environment (see `launch/README.md`):
//!
//! | variable | meaning |
//! |---|---|
//! | `AXON_NODE_NAME` | the node's name (overrides the one in code) |
//! | `AXON_NAMESPACE` | prefix for relative topic names, e.g. `/robot1` |
//! | `AXON_REMAP` | topic renames, `from=to;from2=to2` |
//! | `AXON_PARAMS_FILE` | JSON object of the node's parameters |
//! | `AXON_TOPICS` | topic declarations of the launch file ([`crate::declared`]) |
//! | `AXON_DOMAIN`, `AXON_SHM_DIR` | see [`Domain`] |
//!
//! Creating a node also installs the process's shutdown handling
//! ([`crate::shutdown`]): SIGINT/SIGTERM end every blocking wait with
//! `Shutdown`. [`NodeBuilder::no_signal_handlers`] opts out.

use std::collections::HashMap;
use std::marker::PhantomData;
use std::path::PathBuf;
use std::sync::Mutex;

use axon_message::{Message, ViewMeta};

use crate::declared::{TopicDecls, TOPICS_ENV};
use crate::error::{NodeError, OpenError, ParamError};
use crate::executor::{CallbackResult, Executor, SpinError};
use crate::names::{validate_node_name, Domain, NameError, TopicName};
use crate::publisher::{Publisher, RawPublisher, TypeDesc};
use crate::qos::{Durability, Qos, Reliability};
use crate::subscriber::Sample;
use crate::subscriber::{RawSubscriber, Subscriber};
use crate::waitset::{WaitSet, WaitSetError};
use crate::wake::WakeMechanism;
use std::time::Duration;

/// Source of [`Node`] ids (wait sets check that their subscribers are the node's).
static NEXT_NODE_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

/// A process's identity on the robot.
#[derive(Debug)]
pub struct Node {
    name: String,
    domain: Domain,
    namespace: String,
    remap: HashMap<String, String>,
    params_file: Option<PathBuf>,
    params: Mutex<serde_json::Value>,
    /// The launch file's topic declarations (empty without `AXON_TOPICS`).
    topics: TopicDecls,
    /// How this node's subscribers sleep unless they choose otherwise.
    wake: WakeMechanism,
    /// Unique in the process.
    id: u64,
}

impl Node {
    /// A node named `name` (or `$AXON_NODE_NAME`), configured from the environment.
    pub fn new(name: &str) -> Result<Node, NodeError> {
        Self::builder(name).from_env()?.create()
    }

    /// A node configured in code only (the environment is ignored).
    pub fn builder(name: &str) -> NodeBuilder {
        NodeBuilder {
            name: name.to_string(),
            domain: None,
            namespace: String::new(),
            remap: HashMap::new(),
            params_file: None,
            topics_file: None,
            wake: WakeMechanism::default(),
            signals: true,
        }
    }

    /// This node's id, unique in the process.
    pub(crate) fn id(&self) -> u64 {
        self.id
    }

    /// How this node's subscribers sleep unless they choose otherwise.
    pub fn wake_mechanism(&self) -> WakeMechanism {
        self.wake
    }

    /// A wait set over this node's subscribers, timers and shutdown
    /// (installs the SIGINT/SIGTERM/SIGHUP handlers, see [`crate::shutdown`]).
    pub fn wait_set(&self) -> Result<WaitSet<'_>, WaitSetError> {
        WaitSet::new(self)
    }

    /// An executor with no callbacks yet.
    pub fn executor(&self) -> Executor<'_> {
        Executor::new(self)
    }

    /// An executor that runs `f` for every sample of `sub`; chain more
    /// `on`/`every`, then `spin()`.
    pub fn on<'a, T: Message + ?Sized, R: CallbackResult>(
        &'a self,
        sub: &'a Subscriber<T>,
        f: impl FnMut(Sample<'_, T>) -> R + 'a,
    ) -> Executor<'a> {
        self.executor().on(sub, f)
    }

    /// An executor that runs `f` every `period`; chain more, then `spin()`.
    pub fn every<'a, R: CallbackResult>(
        &'a self,
        period: Duration,
        f: impl FnMut() -> R + 'a,
    ) -> Executor<'a> {
        self.executor().every(period, f)
    }

    /// Waits (handling SIGHUP reloads) until shutdown is requested.
    pub fn spin(&self) -> Result<(), SpinError> {
        self.executor().spin()
    }

    /// Asks every wait of this process to return (as SIGTERM would).
    pub fn request_shutdown(&self) {
        crate::shutdown::request_shutdown()
    }

    /// Whether shutdown was requested (SIGINT, SIGTERM or `request_shutdown`).
    pub fn shutdown_requested(&self) -> bool {
        crate::shutdown::shutdown_requested()
    }

    /// The node's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The node's domain.
    pub fn domain(&self) -> &Domain {
        &self.domain
    }

    /// The namespace relative topic names resolve against (`""` for none).
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// The absolute topic `name` stands for in this node: namespace, then remaps.
    pub fn resolve(&self, name: &str) -> Result<TopicName, NameError> {
        if let Some(to) = self.remap.get(name) {
            return TopicName::resolve(&self.namespace, to);
        }
        let resolved = TopicName::resolve(&self.namespace, name)?;
        match self.remap.get(resolved.as_str()) {
            Some(to) => TopicName::resolve(&self.namespace, to),
            None => Ok(resolved),
        }
    }

    /// The topic declarations this node applies ([`crate::declared`]).
    pub fn declared_topics(&self) -> &TopicDecls {
        &self.topics
    }

    /// An untyped publisher for a type known only at run time (`desc`,
    /// e.g. built from a [`Description`](axon_message::Description) by a
    /// binding): the topic is resolved and the launch file's declarations
    /// applied as for [`Node::publisher`].
    pub fn raw_publisher(
        &self,
        topic: &str,
        desc: &TypeDesc,
        qos: &Qos,
    ) -> Result<RawPublisher, OpenError> {
        let topic = self.resolve(topic)?;
        let (qos, declared) = self.declared_qos(&topic, desc, qos)?;
        RawPublisher::create_declared(
            &self.domain,
            topic,
            desc,
            &qos,
            &self.name,
            declared.as_ref(),
        )
    }

    /// An untyped subscriber for a type known only at run time, or with
    /// `desc == None` for whatever type an existing topic has (its segment
    /// carries the description); otherwise as [`Node::subscriber`].
    pub fn raw_subscriber(
        &self,
        topic: &str,
        desc: Option<&TypeDesc>,
        qos: &Qos,
    ) -> Result<RawSubscriber, OpenError> {
        let topic = self.resolve(topic)?;
        let (qos, declared) = match desc {
            Some(d) => self.declared_qos(&topic, d, qos)?,
            None => (qos.clone(), None),
        };
        let raw = RawSubscriber::create_declared(
            &self.domain,
            topic.clone(),
            desc,
            &qos,
            &self.name,
            declared.as_ref(),
        )?;
        raw.set_node_id(self.id);
        raw.set_wake(self.wake).map_err(|e| OpenError::Io {
            path: self.domain.segment_path(&topic),
            source: e,
        })?;
        Ok(raw)
    }

    /// The QoS a participant of type `desc` that asked for `qos` opens
    /// `topic` with, after the topic's declaration (if any).
    fn declared_qos(
        &self,
        topic: &TopicName,
        desc: &TypeDesc,
        qos: &Qos,
    ) -> Result<(Qos, Option<crate::declared::Applied>), OpenError> {
        match self.topics.get(topic) {
            None => Ok((qos.clone(), None)),
            Some(decl) => {
                let at = self.topics.location(decl);
                let (q, applied) = decl.apply(topic, desc, qos, &at)?;
                Ok((q, Some(applied)))
            }
        }
    }

    /// Starts building a publisher of `T` on `topic`.
    pub fn publisher<T: Message + ?Sized>(&self, topic: &str) -> PublisherBuilder<'_, T> {
        PublisherBuilder {
            node: self,
            topic: topic.to_string(),
            qos: Qos::default(),
            _type: PhantomData,
        }
    }

    /// Starts building the server of service `name` (`Req` in, `Resp` out);
    /// see [`crate::service`].
    pub fn service<Req: Message + ?Sized, Resp: Message + ?Sized>(
        &self,
        name: &str,
    ) -> crate::service::ServiceBuilder<'_, Req, Resp> {
        crate::service::ServiceBuilder::new(self, name)
    }

    /// Starts building a client of service `name`; see [`crate::service`].
    pub fn client<Req: Message + ?Sized, Resp: Message + ?Sized>(
        &self,
        name: &str,
    ) -> crate::service::ClientBuilder<'_, Req, Resp> {
        crate::service::ClientBuilder::new(self, name)
    }

    /// Starts building a subscriber of `T` on `topic`.
    pub fn subscriber<T: Message + ?Sized>(&self, topic: &str) -> SubscriberBuilder<'_, T> {
        SubscriberBuilder {
            node: self,
            topic: topic.to_string(),
            qos: Qos::default(),
            wake: None,
            _type: PhantomData,
        }
    }

    /// Parameter `name` from the launch file, `None` if it is not set.
    ///
    /// Any `serde` type is a parameter type. Validation belongs in the type:
    /// one whose `Deserialize` refuses bad values (as [`Hz`](crate::Hz) and
    /// [`Seconds`](crate::Seconds) do, see [`crate::param`]) turns a bad
    /// value into a [`ParamError`] naming the parameter, the value and why.
    pub fn param<T: serde::de::DeserializeOwned>(
        &self,
        name: &str,
    ) -> Result<Option<T>, ParamError> {
        let params = self.params.lock().unwrap_or_else(|p| p.into_inner());
        match params.get(name) {
            None => Ok(None),
            Some(v) => serde_json::from_value(v.clone())
                .map(Some)
                .map_err(|e| ParamError {
                    name: name.to_string(),
                    reason: e.to_string(),
                }),
        }
    }

    /// Parameter `name`, or `default` if it is not set (a value that is set
    /// but wrong is an error, never silently the default).
    ///
    /// ```no_run
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let node = axon::Node::new("camera")?;
    /// use axon::{Hz, Seconds};
    /// let width: u32 = node.param_or("width", 640)?;
    /// let rate = node.param_or("rate", Hz::new(30.0))?; // "rate": -1 is an error
    /// let timeout = node.param_or("timeout", Seconds::new(0.5))?;
    /// println!("{width} px at {rate}, every {:?}, timeout {:?}", rate.period(), timeout.duration());
    /// # Ok(()) }
    /// ```
    pub fn param_or<T: serde::de::DeserializeOwned>(
        &self,
        name: &str,
        default: T,
    ) -> Result<T, ParamError> {
        Ok(self.param(name)?.unwrap_or(default))
    }

    /// All parameters, as a JSON object.
    pub fn params(&self) -> serde_json::Value {
        self.params
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Re-reads the parameters file (the launcher rewrites it and sends SIGHUP).
    pub fn reload_params(&self) -> Result<(), NodeError> {
        if let Some(path) = &self.params_file {
            let v = read_params(path)?;
            *self.params.lock().unwrap_or_else(|p| p.into_inner()) = v;
        }
        Ok(())
    }
}

fn read_params(path: &PathBuf) -> Result<serde_json::Value, NodeError> {
    let err = |reason: String| NodeError::Params {
        path: path.clone(),
        reason,
    };
    let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
    let v: serde_json::Value = serde_json::from_str(&text).map_err(|e| err(e.to_string()))?;
    if !v.is_object() {
        return Err(err("not a JSON object".into()));
    }
    Ok(v)
}

/// Configures a [`Node`].
#[derive(Debug)]
pub struct NodeBuilder {
    name: String,
    domain: Option<Domain>,
    namespace: String,
    remap: HashMap<String, String>,
    params_file: Option<PathBuf>,
    topics_file: Option<PathBuf>,
    wake: WakeMechanism,
    /// Install the SIGINT/SIGTERM/SIGHUP handlers on `create`.
    signals: bool,
}

impl NodeBuilder {
    /// Applies the `AXON_*` environment variables.
    pub fn from_env(mut self) -> Result<Self, NodeError> {
        if let Ok(name) = std::env::var("AXON_NODE_NAME") {
            self.name = name;
        }
        self.domain = Some(Domain::from_env()?);
        if let Ok(ns) = std::env::var("AXON_NAMESPACE") {
            self = self.namespace(&ns)?;
        }
        if let Ok(remaps) = std::env::var("AXON_REMAP") {
            for entry in remaps.split(';').filter(|e| !e.trim().is_empty()) {
                let (from, to) = entry
                    .split_once('=')
                    .ok_or_else(|| NodeError::Remap(entry.to_string()))?;
                self = self.remap(from.trim(), to.trim())?;
            }
        }
        if let Some(p) = std::env::var_os("AXON_PARAMS_FILE") {
            self.params_file = Some(PathBuf::from(p));
        }
        if let Some(p) = std::env::var_os(TOPICS_ENV).filter(|p| !p.is_empty()) {
            self.topics_file = Some(PathBuf::from(p));
        }
        Ok(self)
    }

    /// Sets the domain.
    pub fn domain(mut self, domain: Domain) -> Self {
        self.domain = Some(domain);
        self
    }

    /// Sets the namespace (`/robot1`).
    pub fn namespace(mut self, ns: &str) -> Result<Self, NodeError> {
        let ns = ns.trim_end_matches('/');
        if !ns.is_empty() {
            TopicName::new(ns)?;
        }
        self.namespace = ns.to_string();
        Ok(self)
    }

    /// Renames topic `from` (as written in code, or resolved) to `to`.
    pub fn remap(mut self, from: &str, to: &str) -> Result<Self, NodeError> {
        TopicName::resolve("/x", from)?;
        TopicName::resolve("/x", to)?;
        self.remap.insert(from.to_string(), to.to_string());
        Ok(self)
    }

    /// Reads parameters from this JSON file.
    pub fn params_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.params_file = Some(path.into());
        self
    }

    /// Reads topic declarations from this file (what `launch` writes and
    /// names in `AXON_TOPICS`; see [`crate::declared`]).
    pub fn topics_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.topics_file = Some(path.into());
        self
    }

    /// How the node's subscribers sleep while waiting (default: futex).
    pub fn wake(mut self, mechanism: WakeMechanism) -> Self {
        self.wake = mechanism;
        self
    }

    /// Leaves SIGINT, SIGTERM and SIGHUP alone when the node is created.
    ///
    /// By default creating a node installs [`crate::shutdown`]'s handlers
    /// (once per process): Ctrl-C or the launcher's SIGTERM then makes every
    /// blocking wait (`recv`, wait sets, `spin`) return `Shutdown`, so the
    /// node runs its shutdown code and exits 0. Opt out when the program
    /// handles these signals itself; then only
    /// [`request_shutdown`](crate::request_shutdown) ends a wait, until a
    /// wait set or an executor is created (they need the handlers and
    /// install them) or [`crate::shutdown::install`] is called.
    pub fn no_signal_handlers(mut self) -> Self {
        self.signals = false;
        self
    }

    /// Creates the node (and, unless [`no_signal_handlers`](Self::no_signal_handlers)
    /// was called, installs the shutdown handling).
    pub fn create(self) -> Result<Node, NodeError> {
        validate_node_name(&self.name)?;
        if self.signals {
            crate::shutdown::install().map_err(NodeError::Signals)?;
        }
        let domain = match self.domain {
            Some(d) => d,
            None => Domain::from_env()?,
        };
        let params = match &self.params_file {
            Some(p) => read_params(p)?,
            None => serde_json::Value::Object(Default::default()),
        };
        let topics = match &self.topics_file {
            Some(p) => TopicDecls::read(p).map_err(|reason| NodeError::Topics {
                path: p.clone(),
                reason,
            })?,
            None => TopicDecls::new(),
        };
        Ok(Node {
            name: self.name,
            domain,
            namespace: self.namespace,
            remap: self.remap,
            params_file: self.params_file,
            params: Mutex::new(params),
            topics,
            wake: self.wake,
            id: NEXT_NODE_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
        })
    }
}

/// Checks that a `T` can be viewed at a slot's payload alignment, so that the
/// views in `Loan` and `Sample` cannot fail later.
pub(crate) fn check_alignment<T: Message + ?Sized>(desc: &TypeDesc) -> Result<(), OpenError> {
    let need = desc.fixed_size as usize + crate::layout::PAYLOAD_ALIGN;
    let buf = vec![0u64; need / 8 + 8];
    let base = buf.as_ptr() as usize;
    let skip = (64 - base % 64) % 64 + crate::layout::PAYLOAD_ALIGN;
    let bytes = &zerocopy::IntoBytes::as_bytes(&buf[..])[skip..];
    if <T::PointerMetadata as ViewMeta>::view::<T>(bytes, 0).is_none() {
        return Err(OpenError::InvalidQos(format!(
            "{} needs an alignment above {} bytes, which slots do not provide",
            T::TYPE_NAME,
            crate::layout::PAYLOAD_ALIGN
        )));
    }
    Ok(())
}

macro_rules! qos_setters {
    () => {
        /// Keep-last depth (see [`Qos::history`]).
        pub fn history(mut self, depth: u32) -> Self {
            self.qos.history = Some(depth);
            self
        }
        /// Most publishers the topic allows, if this creates it.
        pub fn max_publishers(mut self, n: u32) -> Self {
            self.qos.max_publishers = n;
            self
        }
        /// Most subscribers the topic allows, if this creates it.
        pub fn max_subscribers(mut self, n: u32) -> Self {
            self.qos.max_subscribers = n;
            self
        }
        /// Most samples one subscriber may hold at once.
        pub fn max_held(mut self, n: u32) -> Self {
            self.qos.max_held = n;
            self
        }
        /// Most unsent loans one publisher may hold at once.
        pub fn max_loans(mut self, n: u32) -> Self {
            self.qos.max_loans = n;
            self
        }
        /// Slice messages: most trailing elements per sample.
        pub fn max_len(mut self, n: usize) -> Self {
            self.qos.max_len = Some(n);
            self
        }
        /// Replaces the whole QoS.
        pub fn qos(mut self, qos: Qos) -> Self {
            self.qos = qos;
            self
        }
    };
}

/// Configures a [`Publisher`]; `create()` opens the topic.
#[derive(Debug)]
pub struct PublisherBuilder<'n, T: Message + ?Sized> {
    node: &'n Node,
    topic: String,
    qos: Qos,
    _type: PhantomData<fn(&T)>,
}

impl<T: Message + ?Sized> PublisherBuilder<'_, T> {
    qos_setters!();

    /// Opens (or creates) the topic and claims a publisher lane on it.
    pub fn create(self) -> Result<Publisher<T>, OpenError> {
        let topic = self.node.resolve(&self.topic)?;
        let desc = TypeDesc::of::<T>();
        check_alignment::<T>(&desc)?;
        let (qos, declared) = self.node.declared_qos(&topic, &desc, &self.qos)?;
        let raw = RawPublisher::create_declared(
            &self.node.domain,
            topic,
            &desc,
            &qos,
            &self.node.name,
            declared.as_ref(),
        )?;
        Ok(Publisher::from_raw(raw))
    }
}

/// Configures a [`Subscriber`]; `create()` opens the topic.
#[derive(Debug)]
pub struct SubscriberBuilder<'n, T: Message + ?Sized> {
    node: &'n Node,
    topic: String,
    qos: Qos,
    wake: Option<WakeMechanism>,
    _type: PhantomData<fn(&T)>,
}

impl<T: Message + ?Sized> SubscriberBuilder<'_, T> {
    qos_setters!();

    /// The publisher must not overwrite what this subscriber has not read.
    pub fn reliable(mut self) -> Self {
        self.qos.reliability = Reliability::Reliable;
        self
    }

    /// How this subscriber sleeps in `recv` (default: the node's choice).
    pub fn wake(mut self, mechanism: WakeMechanism) -> Self {
        self.wake = Some(mechanism);
        self
    }

    /// Also receive up to `history` samples already published.
    pub fn transient_local(mut self) -> Self {
        self.qos.durability = Durability::TransientLocal;
        self
    }

    /// Opens (or creates) the topic and claims a subscriber record on it.
    pub fn create(self) -> Result<Subscriber<T>, OpenError> {
        let topic = self.node.resolve(&self.topic)?;
        let desc = TypeDesc::of::<T>();
        check_alignment::<T>(&desc)?;
        let (qos, declared) = self.node.declared_qos(&topic, &desc, &self.qos)?;
        let raw = RawSubscriber::create_declared(
            &self.node.domain,
            topic.clone(),
            Some(&desc),
            &qos,
            &self.node.name,
            declared.as_ref(),
        )?;
        raw.set_node_id(self.node.id);
        raw.set_wake(self.wake.unwrap_or(self.node.wake))
            .map_err(|e| OpenError::Io {
                path: self.node.domain.segment_path(&topic),
                source: e,
            })?;
        Ok(Subscriber::from_raw(raw))
    }
}
