//! The native part of the `axon` Python package (`axon._axon`).
//!
//! The Python layer (`python/axon/__init__.py`) shapes the API; this module
//! gives it nodes, untyped publishers and subscribers (the core's
//! `Node::raw_publisher` / `raw_subscriber` with a [`TypeDesc`] built from a
//! [`Description`]), samples and loans held without borrowing
//! (`HeldSample` / `HeldLoan`), and numpy arrays straight into their slots
//! ([`shm_view`], the only `unsafe` here, with the lifetime rule).
//!
//! Bounds: a received sample's fields are decoded by `axon::dynamic`
//! (bounded by the sample's size); a sample holds one of the subscriber's
//! `max_held` hazards and a loan one of the publisher's `max_loans` slots;
//! a custom type's description is validated by `Description::validate`
//! (its limits: `desc::MAX_*`).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axon::desc::{Primitive, Struct, StructField, Ty};
use axon::{
    Description, Durability, Node, Qos, RawPublisher, RawSubscriber, Reliability, TypeDesc,
    WaitError,
};
use pyo3::create_exception;
use pyo3::exceptions::{PyException, PyTimeoutError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyFloat, PyList, PyString, PyTuple};

mod shm_view;
mod svcq;

use shm_view::{byte_array, Finish, Held, Lease, Slot};

create_exception!(
    _axon,
    AxonError,
    PyException,
    "An error of axon (its message is the Rust one)."
);
create_exception!(
    _axon,
    PublisherGone,
    AxonError,
    "Every publisher of the topic is gone and all their samples were read."
);
create_exception!(
    _axon,
    Shutdown,
    AxonError,
    "The node's shutdown was requested."
);

fn axon_err(e: impl std::fmt::Display) -> PyErr {
    AxonError::new_err(e.to_string())
}

/// How long a blocking receive sleeps between checks for Ctrl-C.
const SIGNAL_SLICE: Duration = Duration::from_millis(10);

/// A message type: name, fingerprint, sizes and description.
#[pyclass(frozen, module = "axon._axon")]
#[derive(Clone)]
struct MessageType {
    desc: TypeDesc,
}

impl MessageType {
    fn from_description(d: Description) -> PyResult<MessageType> {
        d.validate().map_err(PyValueError::new_err)?;
        let (fixed, elem) = match axon::dynamic::slice_shape(&d) {
            Some((at, size)) => (at, size),
            None => (d.size_of(&d.root), 0),
        };
        Ok(MessageType {
            desc: TypeDesc {
                name: d.type_name().to_string(),
                fingerprint: d.fingerprint(),
                fixed_size: fixed,
                elem_size: elem,
                description: Some(d),
            },
        })
    }

    fn description(&self) -> &Description {
        self.desc.description.as_ref().expect("always set here")
    }
}

#[pymethods]
impl MessageType {
    /// `Schema::TYPE_NAME`, e.g. `axon-msgs/Image`.
    #[getter]
    fn name(&self) -> &str {
        &self.desc.name
    }
    /// The layout fingerprint (as Rust's `Schema::FINGERPRINT`).
    #[getter]
    fn fingerprint(&self) -> u64 {
        self.desc.fingerprint
    }
    /// Bytes of the fixed part (the whole size of a sized type).
    #[getter]
    fn size(&self) -> u64 {
        self.desc.fixed_size
    }
    /// Bytes per trailing-slice element (0: a sized type).
    #[getter]
    fn elem_size(&self) -> u64 {
        self.desc.elem_size
    }
    /// The fixed part as a numpy dtype spec (a dict for `numpy.dtype`) and,
    /// for a slice message, `(slice field name, element dtype spec, offset)`.
    fn _dtypes<'py>(
        &self,
        py: Python<'py>,
    ) -> PyResult<(Bound<'py, PyAny>, Option<Bound<'py, PyAny>>)> {
        let d = self.description();
        match &d.root {
            Ty::Slice { elem } => Ok((
                empty_struct(py, 0)?,
                Some(
                    PyTuple::new(
                        py,
                        [
                            PyString::new(py, "").into_any(),
                            dtype_of(py, d, elem)?,
                            0u64.into_pyobject(py)?.into_any(),
                        ],
                    )?
                    .into_any(),
                ),
            )),
            Ty::Struct(i) => {
                let s = &d.structs[*i];
                let slice = s.fields.last().and_then(|f| match &f.ty {
                    Ty::Slice { elem } => Some((f, elem)),
                    _ => None,
                });
                let fixed = struct_dtype(py, d, s, true)?;
                let slice = match slice {
                    Some((f, elem)) => Some(
                        PyTuple::new(
                            py,
                            [
                                PyString::new(py, &f.name).into_any(),
                                dtype_of(py, d, elem)?,
                                f.offset.into_pyobject(py)?.into_any(),
                            ],
                        )?
                        .into_any(),
                    ),
                    None => None,
                };
                Ok((fixed, slice))
            }
            ty => {
                let dict = PyDict::new(py);
                dict.set_item("names", vec!["value"])?;
                dict.set_item("formats", vec![dtype_of(py, d, ty)?])?;
                dict.set_item("offsets", vec![0u64])?;
                dict.set_item("itemsize", d.size_of(ty))?;
                Ok((dict.into_any(), None))
            }
        }
    }
    /// Top-level fields: `(name, kind)` with kind `"string"`, `"slice"`,
    /// `"struct"`, `"array"` or `"number"` (padding left out).
    fn _fields(&self) -> Vec<(String, &'static str)> {
        let d = self.description();
        match d.root_struct() {
            None => vec![],
            Some(s) => s
                .fields
                .iter()
                .filter(|f| !f.padding)
                .map(|f| {
                    let kind = match f.ty {
                        Ty::String { .. } => "string",
                        Ty::Slice { .. } => "slice",
                        Ty::Struct(_) => "struct",
                        Ty::Array { .. } => "array",
                        Ty::Primitive(_) => "number",
                    };
                    (f.name.clone(), kind)
                })
                .collect(),
        }
    }
    /// Bytes of a sample as a dict of its fixed fields (nested structs as
    /// dicts, arrays as lists, strings as str); the trailing slice left out.
    fn _decode<'py>(&self, py: Python<'py>, bytes: &[u8]) -> PyResult<Bound<'py, PyAny>> {
        let elems = axon::dynamic::elems_of(self.description(), bytes.len());
        let dec =
            axon::dynamic::decode(self.description(), bytes, elems, Some(0)).map_err(axon_err)?;
        let mut value = dec.value;
        if let (Some(f), serde_json::Value::Object(m)) = (&dec.slice_field, &mut value) {
            m.remove(f);
        }
        json_to_py(py, &value)
    }
    /// The fixed part of a sample from a dict of fields (JSON-like values):
    /// fields left out are zero; an unknown field is an error naming it.
    fn _encode_fixed(&self, fields: &Bound<'_, PyAny>) -> PyResult<Vec<u8>> {
        let v = py_to_json(fields)?;
        let d = self.description();
        let mut out =
            axon::dynamic::encode(d, &v, self.desc.fixed_size as usize).map_err(axon_err)?;
        out.truncate(self.desc.fixed_size as usize);
        Ok(out)
    }
    fn __repr__(&self) -> String {
        format!(
            "<axon message type {} (fingerprint {:#018x})>",
            self.desc.name, self.desc.fingerprint
        )
    }
    fn __eq__(&self, other: &Bound<'_, PyAny>) -> bool {
        other
            .cast::<MessageType>()
            .map(|o| o.get().desc == self.desc)
            .unwrap_or(false)
    }
    fn __hash__(&self) -> u64 {
        self.desc.fingerprint
    }
}

fn empty_struct(py: Python<'_>, size: u64) -> PyResult<Bound<'_, PyAny>> {
    let dict = PyDict::new(py);
    dict.set_item("names", PyList::empty(py))?;
    dict.set_item("formats", PyList::empty(py))?;
    dict.set_item("offsets", PyList::empty(py))?;
    dict.set_item("itemsize", size)?;
    Ok(dict.into_any())
}

fn prim_format(p: Primitive) -> &'static str {
    match p {
        Primitive::U8 => "u1",
        Primitive::I8 => "i1",
        Primitive::U16 => "<u2",
        Primitive::I16 => "<i2",
        Primitive::U32 => "<u4",
        Primitive::I32 => "<i4",
        Primitive::U64 | Primitive::Usize => "<u8",
        Primitive::I64 | Primitive::Isize => "<i8",
        Primitive::U128 | Primitive::I128 => "V16",
        Primitive::F32 => "<f4",
        Primitive::F64 => "<f8",
        _ => "V1",
    }
}

/// A numpy dtype spec of `ty` (a format string, a `(spec, (len,))`
/// subarray, or a dict with names, formats, offsets and itemsize).
fn dtype_of<'py>(py: Python<'py>, d: &Description, ty: &Ty) -> PyResult<Bound<'py, PyAny>> {
    Ok(match ty {
        Ty::Primitive(p) => PyString::new(py, prim_format(*p)).into_any(),
        Ty::Array { elem, len } => PyTuple::new(
            py,
            [dtype_of(py, d, elem)?, PyTuple::new(py, [*len])?.into_any()],
        )?
        .into_any(),
        Ty::String { capacity } => {
            let dict = PyDict::new(py);
            dict.set_item("names", vec!["len", "text"])?;
            dict.set_item("formats", vec!["<u4".to_string(), format!("S{capacity}")])?;
            dict.set_item("offsets", vec![0u64, 4])?;
            dict.set_item("itemsize", capacity + 4)?;
            dict.into_any()
        }
        Ty::Struct(i) => struct_dtype(py, d, &d.structs[*i], false)?,
        Ty::Slice { .. } => PyString::new(py, "V0").into_any(),
    })
}

fn struct_dtype<'py>(
    py: Python<'py>,
    d: &Description,
    s: &Struct,
    skip_slice: bool,
) -> PyResult<Bound<'py, PyAny>> {
    let fields: Vec<&StructField> = s
        .fields
        .iter()
        .filter(|f| !(f.padding || skip_slice && matches!(f.ty, Ty::Slice { .. })))
        .collect();
    let dict = PyDict::new(py);
    dict.set_item(
        "names",
        fields.iter().map(|f| f.name.clone()).collect::<Vec<_>>(),
    )?;
    let formats = PyList::empty(py);
    for f in &fields {
        formats.append(dtype_of(py, d, &f.ty)?)?;
    }
    dict.set_item("formats", formats)?;
    dict.set_item(
        "offsets",
        fields.iter().map(|f| f.offset).collect::<Vec<_>>(),
    )?;
    dict.set_item("itemsize", s.size)?;
    Ok(dict.into_any())
}

fn json_to_py<'py>(py: Python<'py>, v: &serde_json::Value) -> PyResult<Bound<'py, PyAny>> {
    use serde_json::Value;
    Ok(match v {
        Value::Null => py.None().into_bound(py),
        Value::Bool(b) => PyBool::new(py, *b).to_owned().into_any(),
        Value::Number(n) => {
            if let Some(u) = n.as_u64() {
                u.into_pyobject(py)?.into_any()
            } else if let Some(i) = n.as_i64() {
                i.into_pyobject(py)?.into_any()
            } else {
                PyFloat::new(py, n.as_f64().unwrap_or(f64::NAN)).into_any()
            }
        }
        Value::String(s) => PyString::new(py, s).into_any(),
        Value::Array(a) => {
            let l = PyList::empty(py);
            for x in a {
                l.append(json_to_py(py, x)?)?;
            }
            l.into_any()
        }
        Value::Object(m) => {
            let dict = PyDict::new(py);
            for (k, x) in m {
                dict.set_item(k, json_to_py(py, x)?)?;
            }
            dict.into_any()
        }
    })
}

/// Deepest nesting `py_to_json` follows (a self-containing list would
/// otherwise recurse without end).
const MAX_PY_NESTING: usize = 64;

fn py_to_json(o: &Bound<'_, PyAny>) -> PyResult<serde_json::Value> {
    py_to_json_at(o, 0)
}

fn py_to_json_at(o: &Bound<'_, PyAny>, depth: usize) -> PyResult<serde_json::Value> {
    use serde_json::Value;
    if depth > MAX_PY_NESTING {
        return Err(PyValueError::new_err("message value nested too deeply"));
    }
    if o.is_none() {
        return Ok(Value::Null);
    }
    if let Ok(b) = o.cast::<PyBool>() {
        return Ok(Value::Bool(b.is_true()));
    }
    if let Ok(s) = o.cast::<PyString>() {
        return Ok(Value::String(s.extract::<String>()?));
    }
    if let Ok(d) = o.cast::<PyDict>() {
        let mut m = serde_json::Map::new();
        for (k, v) in d.iter() {
            m.insert(k.str()?.extract::<String>()?, py_to_json_at(&v, depth + 1)?);
        }
        return Ok(Value::Object(m));
    }
    if let Ok(i) = o.extract::<u64>() {
        return Ok(Value::from(i));
    }
    if let Ok(i) = o.extract::<i64>() {
        return Ok(Value::from(i));
    }
    if o.hasattr("tolist")? {
        // numpy arrays and scalars
        return py_to_json_at(&o.call_method0("tolist")?, depth + 1);
    }
    if let Ok(f) = o.extract::<f64>() {
        return Ok(if f.is_finite() {
            Value::from(f)
        } else if f.is_nan() {
            Value::String("NaN".into())
        } else if f > 0.0 {
            Value::String("inf".into())
        } else {
            Value::String("-inf".into())
        });
    }
    if let Ok(bytes) = o.extract::<Vec<u8>>() {
        if o.is_instance_of::<pyo3::types::PyBytes>() {
            return Ok(Value::Array(bytes.into_iter().map(Value::from).collect()));
        }
    }
    if let Ok(it) = o.try_iter() {
        let mut a = Vec::new();
        for x in it {
            a.push(py_to_json_at(&x?, depth + 1)?);
        }
        return Ok(Value::Array(a));
    }
    Err(PyValueError::new_err(format!(
        "cannot put a {} into a message",
        o.get_type().name()?
    )))
}

/// The types of `axon-msgs`, by type name.
#[pyfunction]
fn _std_types() -> PyResult<Vec<(String, MessageType)>> {
    axon_msgs::registry::all()
        .iter()
        .map(|t| {
            Ok((
                t.type_name.to_string(),
                MessageType::from_description(t.description())?,
            ))
        })
        .collect()
}

/// A field kind from Python: `("number", "f64")`, `("array", kind, len)`,
/// `("string", capacity)`, `("struct", name, size, align, fields)`,
/// `("slice", kind)`; `fields` are `(name, offset, kind, padding)`.
fn ty_from_py(o: &Bound<'_, PyAny>, structs: &mut Vec<Struct>, depth: usize) -> PyResult<Ty> {
    if depth > 32 {
        return Err(PyValueError::new_err("type nested too deeply"));
    }
    let t = o.cast::<PyTuple>()?;
    let tag: String = t.get_item(0)?.extract()?;
    Ok(match tag.as_str() {
        "number" => {
            let name: String = t.get_item(1)?.extract()?;
            let p = Primitive::ALL
                .iter()
                .copied()
                .find(|p| p.name() == name)
                .ok_or_else(|| PyValueError::new_err(format!("unknown number type {name}")))?;
            Ty::Primitive(p)
        }
        "array" => Ty::Array {
            elem: Box::new(ty_from_py(&t.get_item(1)?, structs, depth + 1)?),
            len: t.get_item(2)?.extract()?,
        },
        "string" => Ty::String {
            capacity: t.get_item(1)?.extract()?,
        },
        "slice" => Ty::Slice {
            elem: Box::new(ty_from_py(&t.get_item(1)?, structs, depth + 1)?),
        },
        "struct" => {
            let name: String = t.get_item(1)?.extract()?;
            let size: u64 = t.get_item(2)?.extract()?;
            let align: u64 = t.get_item(3)?.extract()?;
            let mut fields = Vec::new();
            for f in t.get_item(4)?.try_iter()? {
                let f = f?;
                let f = f.cast::<PyTuple>()?;
                fields.push(StructField {
                    name: f.get_item(0)?.extract()?,
                    offset: f.get_item(1)?.extract()?,
                    ty: ty_from_py(&f.get_item(2)?, structs, depth + 1)?,
                    padding: f.get_item(3)?.extract()?,
                });
            }
            if structs.len() >= axon::desc::MAX_STRUCTS {
                return Err(PyValueError::new_err("too many structs"));
            }
            structs.push(Struct {
                name,
                size,
                align,
                fields,
            });
            Ty::Struct(structs.len() - 1)
        }
        other => return Err(PyValueError::new_err(format!("unknown kind {other}"))),
    })
}

/// A message type declared in Python (see `ty_from_py` for the shape).
#[pyfunction]
fn _custom_type(kind: &Bound<'_, PyAny>) -> PyResult<MessageType> {
    let mut structs = Vec::new();
    let root = ty_from_py(kind, &mut structs, 0)?;
    MessageType::from_description(Description { root, structs })
}

/// A node (`axon.Node`): configured from the launcher's environment.
#[pyclass(frozen, module = "axon._axon")]
struct PyNode {
    node: Node,
}

/// The QoS keywords of `Node.subscriber`, parsed in one place
/// ([`QosArgs::from_kwargs`]); `Node.publisher` takes the first
/// [`PUBLISHER_QOS`] of them.
const QOS: &[&str] = &[
    "history",
    "max_len",
    "max_publishers",
    "max_subscribers",
    "max_held",
    "max_loans",
    "reliable",
    "transient_local",
];
/// How many of [`QOS`] a publisher takes.
const PUBLISHER_QOS: usize = 6;

/// The QoS keywords of `Node.publisher` / `Node.subscriber`.
#[derive(Default)]
struct QosArgs {
    history: Option<u32>,
    max_len: Option<usize>,
    reliable: bool,
    transient_local: bool,
    max_publishers: Option<u32>,
    max_subscribers: Option<u32>,
    max_held: Option<u32>,
    max_loans: Option<u32>,
}

impl QosArgs {
    /// Parses the keywords; one not in `allowed` is a `TypeError` naming it
    /// and the known ones (`None` values mean "the default").
    fn from_kwargs(kw: Option<&Bound<'_, PyDict>>, allowed: &[&str]) -> PyResult<Self> {
        let mut q = QosArgs::default();
        let Some(kw) = kw else { return Ok(q) };
        let mut bad = Vec::new();
        for (k, v) in kw.iter() {
            let k: String = k.extract()?;
            if !allowed.contains(&k.as_str()) {
                bad.push(k);
                continue;
            }
            if v.is_none() {
                continue;
            }
            match k.as_str() {
                "history" => q.history = Some(v.extract()?),
                "max_len" => q.max_len = Some(v.extract()?),
                "max_publishers" => q.max_publishers = Some(v.extract()?),
                "max_subscribers" => q.max_subscribers = Some(v.extract()?),
                "max_held" => q.max_held = Some(v.extract()?),
                "max_loans" => q.max_loans = Some(v.extract()?),
                "reliable" => q.reliable = v.extract()?,
                _ => q.transient_local = v.extract()?,
            }
        }
        if !bad.is_empty() {
            bad.sort();
            return Err(pyo3::exceptions::PyTypeError::new_err(format!(
                "unknown QoS keyword(s): {} (known: {})",
                bad.join(", "),
                allowed.join(", ")
            )));
        }
        Ok(q)
    }

    fn qos(&self) -> Qos {
        let d = Qos::default();
        Qos {
            history: self.history,
            max_len: self.max_len,
            reliability: if self.reliable {
                Reliability::Reliable
            } else {
                d.reliability
            },
            durability: if self.transient_local {
                Durability::TransientLocal
            } else {
                d.durability
            },
            max_publishers: self.max_publishers.unwrap_or(d.max_publishers),
            max_subscribers: self.max_subscribers.unwrap_or(d.max_subscribers),
            max_held: self.max_held.unwrap_or(d.max_held),
            max_loans: self.max_loans.unwrap_or(d.max_loans),
            ..d
        }
    }
}

#[pymethods]
impl PyNode {
    #[new]
    fn new(name: &str) -> PyResult<Self> {
        // Python keeps its own SIGINT handling (KeyboardInterrupt); the
        // Python layer maps SIGTERM onto it.
        let node = Node::builder(name)
            .from_env()
            .and_then(|b| b.no_signal_handlers().create())
            .map_err(axon_err)?;
        Ok(PyNode { node })
    }
    #[getter]
    fn name(&self) -> &str {
        self.node.name()
    }
    #[getter]
    fn namespace(&self) -> &str {
        self.node.namespace()
    }
    /// The node's parameters as JSON text.
    fn _params_json(&self) -> String {
        self.node.params().to_string()
    }
    /// The topic name `name` resolves to (namespace, remaps).
    fn resolve(&self, name: &str) -> PyResult<String> {
        Ok(self
            .node
            .resolve(name)
            .map_err(axon_err)?
            .as_str()
            .to_string())
    }
    #[pyo3(signature = (topic, ty, **qos))]
    fn _publisher(
        &self,
        topic: &str,
        ty: &MessageType,
        qos: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<PyPublisher> {
        let qos = QosArgs::from_kwargs(qos, &QOS[..PUBLISHER_QOS])?.qos();
        let raw = self
            .node
            .raw_publisher(topic, &ty.desc, &qos)
            .map_err(axon_err)?;
        Ok(PyPublisher {
            raw: Arc::new(Mutex::new(raw)),
            ty: MessageType {
                desc: ty.desc.clone(),
            },
        })
    }
    #[pyo3(signature = (topic, ty=None, **qos))]
    fn _subscriber(
        &self,
        topic: &str,
        ty: Option<&MessageType>,
        qos: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<PySubscriber> {
        let qos = QosArgs::from_kwargs(qos, QOS)?.qos();
        let raw = self
            .node
            .raw_subscriber(topic, ty.map(|t| &t.desc), &qos)
            .map_err(axon_err)?;
        let desc = match ty {
            Some(t) => t.desc.clone(),
            None => {
                let d = raw.description().cloned().ok_or_else(|| {
                    AxonError::new_err(format!(
                        "topic {} carries no type description (its creator wrote none): pass the type",
                        raw.topic()
                    ))
                })?;
                MessageType::from_description(d)?.desc
            }
        };
        Ok(PySubscriber {
            raw: Arc::new(Mutex::new(raw)),
            ty: MessageType { desc },
        })
    }
}

/// An untyped publisher.
#[pyclass(frozen, module = "axon._axon")]
struct PyPublisher {
    raw: Arc<Mutex<RawPublisher>>,
    ty: MessageType,
}

fn lock<T>(m: &Mutex<T>) -> PyResult<std::sync::MutexGuard<'_, T>> {
    m.lock().map_err(|_| {
        pyo3::exceptions::PyRuntimeError::new_err("axon: a lock was poisoned by an earlier panic")
    })
}

#[pymethods]
impl PyPublisher {
    #[getter]
    fn topic(&self) -> PyResult<String> {
        Ok(lock(&self.raw)?.topic())
    }
    #[getter]
    fn message_type(&self) -> MessageType {
        MessageType {
            desc: self.ty.desc.clone(),
        }
    }
    #[getter]
    fn max_len(&self) -> PyResult<usize> {
        Ok(lock(&self.raw)?.max_len())
    }
    fn subscriber_count(&self) -> PyResult<usize> {
        Ok(lock(&self.raw)?.subscriber_count())
    }
    /// Publishes a sample given as its fixed part and its trailing-slice
    /// bytes (a `uint8` buffer, contiguous); returns the sequence number.
    #[pyo3(signature = (fixed, slice=None))]
    fn _publish_parts(
        &self,
        fixed: &[u8],
        slice: Option<numpy::PyReadonlyArray1<'_, u8>>,
    ) -> PyResult<u64> {
        let slice_bytes = match &slice {
            Some(a) => a.as_slice().map_err(axon_err)?,
            None => &[],
        };
        let elems = self.elems_for(slice_bytes.len())?;
        let raw = lock(&self.raw)?;
        let mut loan = raw.loan_slot(elems).map_err(axon_err)?;
        let out = loan.bytes_mut();
        let fixed_len = (self.ty.desc.fixed_size as usize).min(out.len());
        if fixed.len() != self.ty.desc.fixed_size as usize {
            return Err(PyValueError::new_err(format!(
                "{} has a {}-byte fixed part, not {}",
                self.ty.desc.name,
                self.ty.desc.fixed_size,
                fixed.len()
            )));
        }
        out[..fixed_len].copy_from_slice(&fixed[..fixed_len]);
        let at = match self.ty.description().root {
            Ty::Slice { .. } => 0,
            _ => fixed_len,
        };
        if let Some(dst) = out.get_mut(at..at + slice_bytes.len()) {
            dst.copy_from_slice(slice_bytes);
        }
        Ok(loan.send())
    }
    /// Publishes a whole sample given as its bytes (`payload_len` of them).
    fn publish_bytes(&self, bytes: &[u8]) -> PyResult<u64> {
        let fixed = self.ty.desc.fixed_size as usize;
        let elems = self.elems_for(bytes.len().saturating_sub(fixed))?;
        let raw = lock(&self.raw)?;
        if raw.payload_len(elems) != bytes.len() {
            return Err(PyValueError::new_err(format!(
                "{} bytes are not a whole {} sample",
                bytes.len(),
                self.ty.desc.name
            )));
        }
        let mut loan = raw.loan_slot(elems).map_err(axon_err)?;
        loan.bytes_mut().copy_from_slice(bytes);
        Ok(loan.send())
    }
    /// Loans a slot for a sample with `n` trailing elements.
    fn _loan(&self, n: usize) -> PyResult<PySlot> {
        let raw = lock(&self.raw)?;
        let held = raw.loan_slot(n).map_err(axon_err)?.detach();
        drop(raw);
        let elems = held.elems();
        Ok(PySlot {
            slot: Slot::new(Held::Loan(self.raw.clone(), held)),
            elems,
            info: None,
        })
    }
}

impl PyPublisher {
    fn elems_for(&self, slice_bytes: usize) -> PyResult<usize> {
        let e = self.ty.desc.elem_size as usize;
        if e == 0 {
            return if slice_bytes == 0 {
                Ok(0)
            } else {
                Err(PyValueError::new_err(format!(
                    "{} has no trailing slice",
                    self.ty.desc.name
                )))
            };
        }
        if slice_bytes % e != 0 {
            return Err(PyValueError::new_err(format!(
                "{slice_bytes} bytes are not a whole number of {e}-byte elements"
            )));
        }
        Ok(slice_bytes / e)
    }
}

/// An untyped subscriber.
#[pyclass(frozen, module = "axon._axon")]
struct PySubscriber {
    raw: Arc<Mutex<RawSubscriber>>,
    ty: MessageType,
}

fn wait_err(e: WaitError) -> PyErr {
    match e {
        WaitError::Timeout => PyTimeoutError::new_err(e.to_string()),
        WaitError::PublisherGone => PublisherGone::new_err(e.to_string()),
        WaitError::Shutdown => Shutdown::new_err(e.to_string()),
        e => axon_err(e),
    }
}

#[pymethods]
impl PySubscriber {
    #[getter]
    fn topic(&self) -> PyResult<String> {
        Ok(lock(&self.raw)?.topic())
    }
    #[getter]
    fn message_type(&self) -> MessageType {
        MessageType {
            desc: self.ty.desc.clone(),
        }
    }
    fn received(&self) -> PyResult<u64> {
        Ok(lock(&self.raw)?.received())
    }
    fn dropped(&self) -> PyResult<u64> {
        Ok(lock(&self.raw)?.dropped())
    }
    fn publisher_count(&self) -> PyResult<usize> {
        Ok(lock(&self.raw)?.publisher_count())
    }
    /// The next sample if one is there (never blocks: while another
    /// thread is in a receive on this subscriber, e.g. `recv_async`'s
    /// waiter, that thread takes the next sample and this returns `None`).
    fn try_recv(&self) -> PyResult<Option<PySlot>> {
        let raw = match self.raw.try_lock() {
            Ok(raw) => raw,
            Err(std::sync::TryLockError::WouldBlock) => return Ok(None),
            Err(std::sync::TryLockError::Poisoned(_)) => return lock(&self.raw).map(|_| None),
        };
        let held = raw.try_recv().map_err(axon_err)?.map(|s| s.detach());
        drop(raw);
        Ok(held.map(|h| self.slot(h)))
    }
    /// Waits for a sample up to `timeout` seconds (`None`: forever) with
    /// the GIL released, checking for signals (Ctrl-C) every 10 ms.
    #[pyo3(signature = (timeout=None))]
    fn recv(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<PySlot> {
        let deadline = match timeout {
            Some(t) if t.is_finite() && t >= 0.0 => {
                Some(Instant::now() + Duration::from_secs_f64(t.min(1e9)))
            }
            Some(t) if t.is_nan() || t < 0.0 => {
                return Err(PyValueError::new_err(
                    "timeout must be >= 0 seconds or None",
                ))
            }
            _ => None,
        };
        loop {
            let slice = match deadline {
                Some(d) => d
                    .saturating_duration_since(Instant::now())
                    .min(SIGNAL_SLICE),
                None => SIGNAL_SLICE,
            };
            let raw = self.raw.clone();
            let r = py.detach(move || -> Result<_, WaitError> {
                let raw = raw.lock().map_err(|_| WaitError::Shutdown)?;
                raw.recv_timeout(slice).map(|s| s.detach())
            });
            match r {
                Ok(h) => return Ok(self.slot(h)),
                Err(WaitError::Timeout) => {
                    py.check_signals()?;
                    if deadline.is_some_and(|d| Instant::now() >= d) {
                        return Err(wait_err(WaitError::Timeout));
                    }
                }
                Err(e) => return Err(wait_err(e)),
            }
        }
    }

    /// One wait of at most `timeout` seconds for a sample on the topic's
    /// wake word, with the GIL released and no signal checks (for the
    /// thread behind `recv_async`); `None` when it timed out.
    fn _wait_recv(&self, py: Python<'_>, timeout: f64) -> PyResult<Option<PySlot>> {
        if !(timeout.is_finite() && timeout >= 0.0) {
            return Err(PyValueError::new_err("timeout must be >= 0 seconds"));
        }
        let slice = Duration::from_secs_f64(timeout.min(1e9));
        let raw = self.raw.clone();
        let r = py.detach(move || -> Result<_, WaitError> {
            let raw = raw.lock().map_err(|_| WaitError::Shutdown)?;
            raw.recv_timeout(slice).map(|s| s.detach())
        });
        match r {
            Ok(h) => Ok(Some(self.slot(h))),
            Err(WaitError::Timeout) => Ok(None),
            Err(e) => Err(wait_err(e)),
        }
    }
}

impl PySubscriber {
    fn slot(&self, held: axon::HeldSample) -> PySlot {
        let info = held.info();
        PySlot {
            elems: info.elems,
            slot: Slot::new(Held::Sample(self.raw.clone(), held)),
            info: Some(info),
        }
    }
}

/// A received sample or an unsent loan: a slot in shared memory.
#[pyclass(frozen, module = "axon._axon")]
struct PySlot {
    slot: Arc<Slot>,
    elems: usize,
    info: Option<axon::SampleInfo>,
}

#[pymethods]
impl PySlot {
    /// The whole payload as a `uint8` numpy array into the slot (read-only
    /// for a received sample, writable for a loan).
    /// `start`, `len`: a byte range of it (`len=None`: to the end).
    #[pyo3(signature = (start=0, len=None))]
    fn _bytes_view<'py>(
        &self,
        py: Python<'py>,
        start: usize,
        len: Option<usize>,
    ) -> PyResult<Bound<'py, PyAny>> {
        byte_array(py, &self.slot, start, len)
    }
    /// A copy of payload bytes `offset..offset + len` (a fixed field).
    fn _read<'py>(
        &self,
        py: Python<'py>,
        offset: usize,
        len: usize,
    ) -> PyResult<Bound<'py, pyo3::types::PyBytes>> {
        // Copied under the slot's lock, made Python bytes after (to_bytes says why).
        let copy = self.slot.with_bytes(|b| {
            offset
                .checked_add(len)
                .and_then(|end| b.get(offset..end))
                .map(<[u8]>::to_vec)
        })?;
        let copy = copy.ok_or_else(|| PyValueError::new_err("read beyond the sample"))?;
        Ok(pyo3::types::PyBytes::new(py, &copy))
    }
    /// A copy of the payload bytes.
    fn to_bytes<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, pyo3::types::PyBytes>> {
        // Copied out under the slot's lock, turned into Python bytes after:
        // a Python allocation may run the GC, whose dropping a view of this
        // slot takes the same lock.
        let copy = self.slot.with_bytes(|b| b.to_vec())?;
        Ok(pyo3::types::PyBytes::new(py, &copy))
    }
    #[getter]
    fn elems(&self) -> usize {
        self.elems
    }
    #[getter]
    fn seq(&self) -> Option<u64> {
        self.info.map(|i| i.seq)
    }
    #[getter]
    fn sent_ns(&self) -> Option<u64> {
        self.info.map(|i| i.sent_ns)
    }
    #[getter]
    fn publisher(&self) -> Option<usize> {
        self.info.map(|i| i.publisher)
    }
    /// Live numpy views into the slot.
    #[getter]
    fn views(&self) -> usize {
        self.slot.views()
    }
    #[getter]
    fn released(&self) -> bool {
        !self.slot.is_live()
    }
    /// Writes `bytes` at `offset` of a loan's payload (fixed fields).
    fn _write(&self, offset: usize, bytes: &[u8]) -> PyResult<()> {
        self.slot.with_bytes_mut(|b| {
            match b.get_mut(offset..offset.saturating_add(bytes.len())) {
                Some(dst) => {
                    dst.copy_from_slice(bytes);
                    Ok(())
                }
                None => Err(PyValueError::new_err("write beyond the sample")),
            }
        })?
    }
    /// Gives the slot back (a loan unsent); `BufferError` while views live.
    fn release(&self) -> PyResult<()> {
        self.slot.finish(Finish::Release).map(|_| ())
    }
    /// Releases now, or (views alive) when the last view goes; `True` if now.
    fn _release_when_unused(&self) -> PyResult<bool> {
        self.slot.release_when_unused()
    }
    /// Sends a loan; `BufferError` while views live.
    fn send(&self) -> PyResult<u64> {
        match self.slot.finish(Finish::Send)? {
            Some(seq) => Ok(seq),
            None => Err(AxonError::new_err(
                "this loan was already sent or discarded",
            )),
        }
    }
}

/// axon's `CLOCK_MONOTONIC` in ns (what `sent_ns` is measured in).
#[pyfunction]
fn monotonic_ns() -> u64 {
    axon::monotonic_ns()
}

#[pymodule]
fn _axon(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<MessageType>()?;
    m.add_class::<PyNode>()?;
    m.add_class::<PyPublisher>()?;
    m.add_class::<PySubscriber>()?;
    m.add_class::<PySlot>()?;
    m.add_class::<Lease>()?;
    m.add_function(wrap_pyfunction!(_std_types, m)?)?;
    m.add_function(wrap_pyfunction!(_custom_type, m)?)?;
    m.add_function(wrap_pyfunction!(monotonic_ns, m)?)?;
    m.add("AxonError", m.py().get_type::<AxonError>())?;
    m.add("PublisherGone", m.py().get_type::<PublisherGone>())?;
    m.add("Shutdown", m.py().get_type::<Shutdown>())?;
    svcq::register(m)?;
    Ok(())
}
