//! The ros2msg schema text and the RIHS01 type hash of a [`View`].

use core::fmt::Write as _;

use sha2::{Digest, Sha256};

use crate::view::{RosField, RosType, Shape, View};

/// The line that separates definitions in ros2msg schema text.
pub const SEPARATOR: &str =
    "================================================================================";

impl View {
    /// The schema text MCAP's `ros2msg` encoding (and rosbag2) expects: the
    /// type's definition, then each message it uses (depth first, each
    /// once) after a line of 80 `=` and `MSG: pkg/msg/Type`.
    pub fn msg_text(&self) -> String {
        let mut out = String::new();
        self.definition(self.root_index(), &mut out);
        for m in self.dependencies() {
            let _ = writeln!(out, "{SEPARATOR}\nMSG: {}", self.messages()[m].name);
            self.definition(m, &mut out);
        }
        out
    }

    /// The definition of one message: a `type name` line per field.
    pub fn definition_of(&self, m: usize) -> String {
        let mut out = String::new();
        self.definition(m, &mut out);
        out
    }

    fn definition(&self, m: usize, out: &mut String) {
        for f in &self.messages()[m].fields {
            let _ = writeln!(out, "{} {}", self.field_type(f), f.name);
        }
    }

    /// A field's type as a `.msg` file writes it (`float64[9]`,
    /// `std_msgs/Header`, `string[]`).
    pub fn field_type(&self, f: &RosField) -> String {
        let base = match f.ty {
            RosType::Prim(p) => p.name().to_owned(),
            RosType::Msg(m) => self.messages()[m].name.replacen("/msg/", "/", 1),
        };
        match f.shape {
            Shape::Scalar => base,
            Shape::Array(n) => format!("{base}[{n}]"),
            Shape::Sequence => format!("{base}[]"),
        }
    }

    /// Every message the type uses, directly or not, depth first in field
    /// order, each once.
    fn dependencies(&self) -> Vec<usize> {
        fn walk(view: &View, m: usize, seen: &mut Vec<usize>) {
            for f in &view.messages()[m].fields {
                if let RosType::Msg(d) = f.ty {
                    if !seen.contains(&d) {
                        seen.push(d);
                        walk(view, d, seen);
                    }
                }
            }
        }
        let mut seen = Vec::new();
        walk(self, self.root_index(), &mut seen);
        seen
    }

    /// The REP-2016 type hash, `RIHS01_<sha256 hex>`, as rosidl computes it:
    /// SHA-256 over the JSON of the type description (the type's fields,
    /// then every referenced type sorted by name; no constants, no
    /// defaults), written as Python's `json.dumps` writes it.
    pub fn type_hash(&self) -> String {
        let digest = Sha256::digest(self.type_description_json().as_bytes());
        let mut out = String::from("RIHS01_");
        for b in digest {
            let _ = write!(out, "{b:02x}");
        }
        out
    }

    /// The JSON that [`type_hash`](Self::type_hash) hashes.
    pub fn type_description_json(&self) -> String {
        let mut refs = self.dependencies();
        refs.sort_by(|a, b| self.messages()[*a].name.cmp(&self.messages()[*b].name));
        let mut out = String::from("{\"type_description\": ");
        self.individual_json(self.root_index(), &mut out);
        out.push_str(", \"referenced_type_descriptions\": [");
        for (i, m) in refs.into_iter().enumerate() {
            if i > 0 {
                out.push_str(", ");
            }
            self.individual_json(m, &mut out);
        }
        out.push_str("]}");
        out
    }

    fn individual_json(&self, m: usize, out: &mut String) {
        let msg = &self.messages()[m];
        // Names are ASCII letters, digits, '_' and '/': nothing to escape.
        let _ = write!(out, "{{\"type_name\": \"{}\", \"fields\": [", msg.name);
        for (i, f) in msg.fields.iter().enumerate() {
            if i > 0 {
                out.push_str(", ");
            }
            let (id, nested) = match f.ty {
                RosType::Prim(p) => (p.type_id() as u32, ""),
                RosType::Msg(d) => (1, self.messages()[d].name.as_str()),
            };
            let (id, capacity) = match f.shape {
                Shape::Scalar => (id, 0),
                Shape::Array(n) => (id + 48, n),
                Shape::Sequence => (id + 144, 0),
            };
            let _ = write!(
                out,
                "{{\"name\": \"{}\", \"type\": {{\"type_id\": {id}, \"capacity\": {capacity}, \"string_capacity\": 0, \"nested_type_name\": \"{nested}\"}}}}",
                f.name
            );
        }
        out.push_str("]}");
    }
}
