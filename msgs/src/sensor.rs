//! Sensor readings, as in ROS 2 `sensor_msgs`: [`Imu`], [`JointState`],
//! [`BatteryState`], and the slice messages [`LaserScan`], [`Image`] and
//! [`PointCloud`].

use core::fmt;

use axon_derive::Message;
use serde::de::Error as _;
use serde::ser::SerializeStruct;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

use crate::{FixedString, FrameId, Header, Quaternion, Vector3};

/// An inertial measurement. Each covariance is a 3x3 row-major matrix; as in
/// ROS, all zeros means "unknown" and `-1` in the first element means "this
/// quantity is not measured". 384 bytes, no padding.
#[derive(
    FromBytes,
    IntoBytes,
    KnownLayout,
    Immutable,
    Message,
    Clone,
    Copy,
    Debug,
    PartialEq,
    Default,
    Serialize,
    Deserialize,
)]
#[repr(C)]
pub struct Imu {
    pub header: Header,
    pub orientation: Quaternion,
    pub orientation_covariance: [f64; 9],
    pub angular_velocity: Vector3,
    pub angular_velocity_covariance: [f64; 9],
    pub linear_acceleration: Vector3,
    pub linear_acceleration_covariance: [f64; 9],
}

/// The most joints a [`JointState`] holds.
pub const MAX_JOINTS: usize = 32;

/// A joint's name in a [`JointState`]: up to 28 bytes, 32 in all.
pub type JointName = FixedString<28>;

/// Positions (rad or m), velocities and efforts (N·m or N) of up to
/// [`MAX_JOINTS`] joints; the first `count` entries of each array are valid.
///
/// Layout: header (88), `count` (4), explicit `_pad` (4), names (32 × 32),
/// then the three `f64` arrays; 1888 bytes, no implicit padding. A hostile
/// `count` is clamped to [`MAX_JOINTS`] by every accessor.
///
/// Serde writes the ROS shape, lists of `count` entries:
/// `{header, name: [..], position: [..], velocity: [..], effort: [..]}`.
/// When reading, `velocity` and `effort` may be empty (zeros) or omitted.
#[derive(
    FromBytes, IntoBytes, KnownLayout, Immutable, Message, Clone, Copy, Debug, PartialEq, Default,
)]
#[repr(C)]
pub struct JointState {
    pub header: Header,
    pub count: u32,
    pub _pad: [u8; 4],
    pub name: [JointName; MAX_JOINTS],
    pub position: [f64; MAX_JOINTS],
    pub velocity: [f64; MAX_JOINTS],
    pub effort: [f64; MAX_JOINTS],
}

/// The error of [`JointState::push`]: all [`MAX_JOINTS`] entries are used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct JointStateFull;

impl fmt::Display for JointStateFull {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "a JointState holds at most {MAX_JOINTS} joints")
    }
}

impl std::error::Error for JointStateFull {}

impl JointState {
    /// Number of valid entries (`count`, clamped to [`MAX_JOINTS`]).
    pub fn len(&self) -> usize {
        (self.count as usize).min(MAX_JOINTS)
    }

    /// Whether there are no joints.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Appends a joint (its name truncated to [`JointName`]'s capacity).
    pub fn push(
        &mut self,
        name: &str,
        position: f64,
        velocity: f64,
        effort: f64,
    ) -> Result<(), JointStateFull> {
        let i = self.len();
        if i == MAX_JOINTS {
            return Err(JointStateFull);
        }
        self.name[i] = JointName::new(name);
        self.position[i] = position;
        self.velocity[i] = velocity;
        self.effort[i] = effort;
        self.count = i as u32 + 1;
        Ok(())
    }

    /// The valid names.
    pub fn names(&self) -> &[JointName] {
        &self.name[..self.len()]
    }

    /// The valid positions.
    pub fn positions(&self) -> &[f64] {
        &self.position[..self.len()]
    }

    /// The valid velocities.
    pub fn velocities(&self) -> &[f64] {
        &self.velocity[..self.len()]
    }

    /// The valid efforts.
    pub fn efforts(&self) -> &[f64] {
        &self.effort[..self.len()]
    }

    /// The index of the joint called `name`.
    pub fn index_of(&self, name: &str) -> Option<usize> {
        self.names().iter().position(|n| n == name)
    }
}

impl Serialize for JointState {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut s = serializer.serialize_struct("JointState", 5)?;
        s.serialize_field("header", &self.header)?;
        s.serialize_field("name", self.names())?;
        s.serialize_field("position", self.positions())?;
        s.serialize_field("velocity", self.velocities())?;
        s.serialize_field("effort", self.efforts())?;
        s.end()
    }
}

impl<'de> Deserialize<'de> for JointState {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Lists {
            #[serde(default)]
            header: Header,
            name: Vec<JointName>,
            position: Vec<f64>,
            #[serde(default)]
            velocity: Vec<f64>,
            #[serde(default)]
            effort: Vec<f64>,
        }
        let lists = Lists::deserialize(deserializer)?;
        let n = lists.name.len();
        if n > MAX_JOINTS {
            return Err(D::Error::custom(format!(
                "{n} joints; a JointState holds at most {MAX_JOINTS}"
            )));
        }
        let mut out = JointState {
            header: lists.header,
            count: n as u32,
            ..JointState::default()
        };
        out.name[..n].copy_from_slice(&lists.name);
        for (field, values, dest) in [
            ("position", &lists.position, &mut out.position),
            ("velocity", &lists.velocity, &mut out.velocity),
            ("effort", &lists.effort, &mut out.effort),
        ] {
            match values.len() {
                0 if field != "position" => {}
                len if len == n => dest[..n].copy_from_slice(values),
                len => {
                    return Err(D::Error::custom(format!(
                        "{len} {field} values for {n} joint names"
                    )));
                }
            }
        }
        Ok(out)
    }
}

/// The charge state of a battery. Unknown quantities are NaN, as in ROS.
///
/// Layout: header (88), seven `f32` (28), four `u8` (4), `cell_count` (4),
/// explicit `_pad` (4), the cell arrays (2 × 64), `location` and
/// `serial_number` (2 × 64); 384 bytes, no implicit padding. The first
/// `cell_count` (at most [`MAX_CELLS`]) entries of the cell arrays are valid.
#[derive(
    FromBytes,
    IntoBytes,
    KnownLayout,
    Immutable,
    Message,
    Clone,
    Copy,
    Debug,
    PartialEq,
    Default,
    Serialize,
    Deserialize,
)]
#[repr(C)]
pub struct BatteryState {
    pub header: Header,
    /// Volts.
    pub voltage: f32,
    /// Degrees Celsius.
    pub temperature: f32,
    /// Amperes; negative while discharging.
    pub current: f32,
    /// Ampere-hours.
    pub charge: f32,
    /// Ampere-hours, when full now.
    pub capacity: f32,
    /// Ampere-hours, when new.
    pub design_capacity: f32,
    /// Charge in `0.0..=1.0`.
    pub percentage: f32,
    /// One of the `STATUS_*` constants.
    pub power_supply_status: u8,
    /// One of the `HEALTH_*` constants.
    pub power_supply_health: u8,
    /// One of the `TECHNOLOGY_*` constants.
    pub power_supply_technology: u8,
    /// 1 if a battery is present.
    pub present: u8,
    pub cell_count: u32,
    #[serde(skip)]
    pub _pad: [u8; 4],
    /// Volts per cell.
    pub cell_voltage: [f32; MAX_CELLS],
    /// Degrees Celsius per cell.
    pub cell_temperature: [f32; MAX_CELLS],
    pub location: FrameId,
    pub serial_number: FixedString<60>,
}

/// The most cells a [`BatteryState`] describes.
pub const MAX_CELLS: usize = 16;

impl BatteryState {
    pub const STATUS_UNKNOWN: u8 = 0;
    pub const STATUS_CHARGING: u8 = 1;
    pub const STATUS_DISCHARGING: u8 = 2;
    pub const STATUS_NOT_CHARGING: u8 = 3;
    pub const STATUS_FULL: u8 = 4;

    pub const HEALTH_UNKNOWN: u8 = 0;
    pub const HEALTH_GOOD: u8 = 1;
    pub const HEALTH_OVERHEAT: u8 = 2;
    pub const HEALTH_DEAD: u8 = 3;
    pub const HEALTH_OVERVOLTAGE: u8 = 4;
    pub const HEALTH_UNSPEC_FAILURE: u8 = 5;
    pub const HEALTH_COLD: u8 = 6;
    pub const HEALTH_WATCHDOG_TIMER_EXPIRE: u8 = 7;
    pub const HEALTH_SAFETY_TIMER_EXPIRE: u8 = 8;

    pub const TECHNOLOGY_UNKNOWN: u8 = 0;
    pub const TECHNOLOGY_NIMH: u8 = 1;
    pub const TECHNOLOGY_LION: u8 = 2;
    pub const TECHNOLOGY_LIPO: u8 = 3;
    pub const TECHNOLOGY_LIFE: u8 = 4;
    pub const TECHNOLOGY_NICD: u8 = 5;
    pub const TECHNOLOGY_LIMN: u8 = 6;

    /// The valid cell voltages (`cell_count`, clamped to [`MAX_CELLS`]).
    pub fn cell_voltages(&self) -> &[f32] {
        &self.cell_voltage[..(self.cell_count as usize).min(MAX_CELLS)]
    }

    /// The valid cell temperatures.
    pub fn cell_temperatures(&self) -> &[f32] {
        &self.cell_temperature[..(self.cell_count as usize).min(MAX_CELLS)]
    }
}

/// One sweep of a planar range finder: `ranges[i]` was measured at angle
/// `angle_min + i * angle_increment` (radians, counter-clockwise from x).
///
/// A *slice message*: `ranges` holds one range (metres) per beam, and only
/// ranges. Values outside `range_min..=range_max` (including NaN and
/// infinities) are not valid measurements. A sensor that also reports
/// intensities publishes them as a second `LaserScan` on a sibling topic
/// (`scan/intensities`) with the same header; that keeps the common
/// range-only scan half the size.
///
/// Loan one with a beam count and fill it in place. With the runtime:
/// `let mut scan = publisher.loan_slice(measured.len())?;`
/// `fill(&mut scan, &measured); scan.send();`, where
///
/// ```
/// use axon_msgs::{Header, LaserScan};
///
/// fn fill(scan: &mut LaserScan, measured: &[f32]) {
///     scan.header = Header::now("laser");
///     scan.angle_min = -core::f32::consts::PI;
///     scan.angle_increment = core::f32::consts::TAU / measured.len() as f32;
///     scan.angle_max = scan.angle_min + scan.angle_increment * (measured.len() - 1) as f32;
///     (scan.range_min, scan.range_max) = (0.1, 30.0);
///     scan.ranges.copy_from_slice(measured);
/// }
/// # use zerocopy::{IntoBytes, KnownLayout, FromBytes};
/// # let measured = [1.5f32; 720];
/// # let len = LaserScan::size_for_metadata(720).unwrap();
/// # let mut slot = vec![0u64; len.div_ceil(8)];
/// # let scan = LaserScan::mut_from_bytes(&mut slot.as_mut_bytes()[..len]).unwrap();
/// # fill(scan, &measured);
/// # assert_eq!(scan.valid_points().count(), 720);
/// ```
///
/// Layout: `#[repr(C, packed(4))]`. The header is 8-aligned and the ranges
/// 4 bytes each, so in plain `repr(C)` an odd beam count would leave 4 bytes
/// of trailing padding, which a message may not have. Packing to 4 removes
/// it; the fields keep their `repr(C)` offsets (header 0, `angle_min` 88,
/// ..., `ranges` 116), so the only difference a user sees is that the
/// header cannot be borrowed: read it by value (`scan.header`, or
/// [`header()`](Self::header)); `scan.header.frame_id.as_str()` works.
#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Message)]
#[repr(C, packed(4))]
pub struct LaserScan {
    pub header: Header,
    /// Angle of the first beam, radians.
    pub angle_min: f32,
    /// Angle of the last beam, radians.
    pub angle_max: f32,
    /// Angle between beams, radians.
    pub angle_increment: f32,
    /// Time between beams, seconds.
    pub time_increment: f32,
    /// Time between scans, seconds.
    pub scan_time: f32,
    /// Shortest valid range, metres.
    pub range_min: f32,
    /// Longest valid range, metres.
    pub range_max: f32,
    /// One range per beam, metres.
    pub ranges: [f32],
}

impl LaserScan {
    /// The header (a copy: the packed layout does not allow borrowing it).
    pub fn header(&self) -> Header {
        self.header
    }

    /// The ranges, one per beam.
    pub fn ranges(&self) -> &[f32] {
        &self.ranges
    }

    /// The angle of beam `i`, radians.
    pub fn angle(&self, i: usize) -> f32 {
        self.angle_min + i as f32 * self.angle_increment
    }

    /// Whether `range` is a valid measurement for this scan.
    pub fn is_valid(&self, range: f32) -> bool {
        range >= self.range_min && range <= self.range_max
    }

    /// `(angle, range)` for every beam with a valid range.
    pub fn valid_points(&self) -> impl Iterator<Item = (f32, f32)> + '_ {
        self.ranges
            .iter()
            .enumerate()
            .filter(|(_, r)| self.is_valid(**r))
            .map(|(i, r)| (self.angle(i), *r))
    }
}

impl Serialize for LaserScan {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut s = serializer.serialize_struct("LaserScan", 9)?;
        s.serialize_field("header", &self.header())?;
        s.serialize_field("angle_min", &{ self.angle_min })?;
        s.serialize_field("angle_max", &{ self.angle_max })?;
        s.serialize_field("angle_increment", &{ self.angle_increment })?;
        s.serialize_field("time_increment", &{ self.time_increment })?;
        s.serialize_field("scan_time", &{ self.scan_time })?;
        s.serialize_field("range_min", &{ self.range_min })?;
        s.serialize_field("range_max", &{ self.range_max })?;
        s.serialize_field("ranges", &self.ranges)?;
        s.end()
    }
}

impl fmt::Debug for LaserScan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LaserScan")
            .field("header", &self.header())
            .field("angle_min", &{ self.angle_min })
            .field("angle_max", &{ self.angle_max })
            .field("angle_increment", &{ self.angle_increment })
            .field("range_min", &{ self.range_min })
            .field("range_max", &{ self.range_max })
            .field("ranges", &format_args!("[f32; {}]", self.ranges.len()))
            .finish_non_exhaustive()
    }
}

/// Common values of [`Image::encoding`] (the ROS names).
pub mod encodings {
    pub const RGB8: &str = "rgb8";
    pub const RGBA8: &str = "rgba8";
    pub const BGR8: &str = "bgr8";
    pub const BGRA8: &str = "bgra8";
    pub const MONO8: &str = "mono8";
    pub const MONO16: &str = "mono16";
    /// Depth in millimetres.
    pub const TYPE_16UC1: &str = "16UC1";
    /// Depth in metres.
    pub const TYPE_32FC1: &str = "32FC1";

    /// Bytes per pixel of the encodings above, `None` for others.
    pub fn bytes_per_pixel(encoding: &str) -> Option<u32> {
        Some(match encoding {
            RGB8 | BGR8 => 3,
            RGBA8 | BGRA8 | TYPE_32FC1 => 4,
            MONO8 => 1,
            MONO16 | TYPE_16UC1 => 2,
            _ => return None,
        })
    }
}

/// The pixel format name of an [`Image`]: up to 28 bytes, 32 in all.
pub type Encoding = FixedString<28>;

/// An uncompressed image: `height` rows of `step` bytes each in `data`.
///
/// A *slice message*: `data` holds the pixels, and a sample's slice length
/// is chosen when it is loaned. With the runtime:
/// `let mut image = publisher.loan_slice(640 * 480 * 3)?;`
/// `fill(&mut image, 640, 480, &frame); image.send();`, where
///
/// ```
/// use axon_msgs::{encodings, Encoding, Header, Image};
///
/// fn fill(image: &mut Image, width: u32, height: u32, rgb: &[u8]) {
///     image.header = Header::now("camera");
///     image.encoding = Encoding::new(encodings::RGB8);
///     (image.width, image.height, image.step) = (width, height, width * 3);
///     image.pixels_mut().copy_from_slice(rgb);
/// }
/// # use zerocopy::{IntoBytes, KnownLayout, FromBytes};
/// # let frame = vec![7u8; 64 * 48 * 3];
/// # let len = Image::size_for_metadata(frame.len()).unwrap();
/// # let mut slot = vec![0u64; len.div_ceil(8)];
/// # let image = Image::mut_from_bytes(&mut slot.as_mut_bytes()[..len]).unwrap();
/// # fill(image, 64, 48, &frame);
/// # assert_eq!(image.row(47).unwrap().len(), 64 * 3);
/// ```
///
/// Layout: `#[repr(C, packed)]`, since a byte slice after the 8-aligned
/// header would otherwise leave trailing padding for most lengths. The
/// fields still sit at their natural offsets (header 0, `encoding` 88,
/// `height` 120, `width` 124, `step` 128, `is_bigendian` 132, explicit
/// `_pad` 133, `data` 136). Read fields by value (`image.width`,
/// [`header()`](Self::header)); `data` and `encoding` can be borrowed.
#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Message)]
#[repr(C, packed)]
pub struct Image {
    pub header: Header,
    /// Pixel format, e.g. [`encodings::RGB8`].
    pub encoding: Encoding,
    /// Rows.
    pub height: u32,
    /// Columns.
    pub width: u32,
    /// Bytes per row (at least `width` × bytes per pixel).
    pub step: u32,
    /// 1 if multi-byte pixel values are big-endian.
    pub is_bigendian: u8,
    pub _pad: [u8; 3],
    /// `height` rows of `step` bytes (possibly followed by unused bytes).
    pub data: [u8],
}

impl Image {
    /// The header (a copy: the packed layout does not allow borrowing it).
    pub fn header(&self) -> Header {
        self.header
    }

    /// The pixel format name.
    pub fn encoding(&self) -> &str {
        self.encoding.as_str()
    }

    /// The pixel rows: the first `height × step` bytes of `data`, or all of
    /// `data` if it is shorter.
    pub fn pixels(&self) -> &[u8] {
        let len = (self.height as usize).saturating_mul(self.step as usize);
        &self.data[..len.min(self.data.len())]
    }

    /// Mutable [`pixels`](Self::pixels).
    pub fn pixels_mut(&mut self) -> &mut [u8] {
        let len = (self.height as usize).saturating_mul(self.step as usize);
        let len = len.min(self.data.len());
        &mut self.data[..len]
    }

    /// Row `y` (`step` bytes), if it lies within `data`.
    pub fn row(&self, y: u32) -> Option<&[u8]> {
        if y >= self.height {
            return None;
        }
        let step = self.step as usize;
        let start = (y as usize).checked_mul(step)?;
        self.data.get(start..start.checked_add(step)?)
    }
}

impl Serialize for Image {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut s = serializer.serialize_struct("Image", 7)?;
        s.serialize_field("header", &self.header())?;
        s.serialize_field("encoding", &self.encoding)?;
        s.serialize_field("height", &{ self.height })?;
        s.serialize_field("width", &{ self.width })?;
        s.serialize_field("step", &{ self.step })?;
        s.serialize_field("is_bigendian", &self.is_bigendian)?;
        s.serialize_field("data", &Bytes(&self.data))?;
        s.end()
    }
}

impl fmt::Debug for Image {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Image")
            .field("header", &self.header())
            .field("encoding", &self.encoding)
            .field("height", &{ self.height })
            .field("width", &{ self.width })
            .field("step", &{ self.step })
            .field("data", &format_args!("[u8; {}]", self.data.len()))
            .finish_non_exhaustive()
    }
}

/// Serializes a byte slice with `serialize_bytes` (compact in binary formats;
/// a list of numbers in JSON).
struct Bytes<'a>(&'a [u8]);

impl Serialize for Bytes<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_bytes(self.0)
    }
}

/// A point of a [`PointCloud`]: position (metres) and intensity (sensor
/// units; 0 if the sensor has none). 16 bytes.
#[derive(
    FromBytes,
    IntoBytes,
    KnownLayout,
    Immutable,
    Message,
    Clone,
    Copy,
    Debug,
    PartialEq,
    Default,
    Serialize,
    Deserialize,
)]
#[repr(C)]
pub struct PointXyzi {
    pub x: f32,
    pub y: f32,
    pub z: f32,
    pub intensity: f32,
}

/// A set of 3-D points with intensities, in `header.frame_id`.
///
/// Unlike ROS `PointCloud2`, the point format is fixed ([`PointXyzi`]), so a
/// subscriber reads `points` as typed values in place without parsing a
/// field description; a cloud with other per-point data needs its own
/// message type. An *organised* cloud (from a depth camera) has
/// `height > 1` and `points[row * width + col]`; an unorganised one has
/// `height == 1` and `width == points.len()`.
///
/// A *slice message*; loan one with a point count. With the runtime:
/// `let mut cloud = publisher.loan_slice(points.len())?;`
/// `fill(&mut cloud, &points); cloud.send();`, where
///
/// ```
/// use axon_msgs::{Header, PointCloud, PointXyzi};
///
/// fn fill(cloud: &mut PointCloud, points: &[PointXyzi]) {
///     cloud.header = Header::now("lidar");
///     (cloud.width, cloud.height) = (points.len() as u32, 1);
///     cloud.is_dense = 1;
///     cloud.points.copy_from_slice(points);
/// }
/// # use zerocopy::{IntoBytes, KnownLayout, FromBytes};
/// # let points = [PointXyzi { x: 1.0, ..Default::default() }; 10];
/// # let len = PointCloud::size_for_metadata(points.len()).unwrap();
/// # let mut slot = vec![0u64; len.div_ceil(8)];
/// # let cloud = PointCloud::mut_from_bytes(&mut slot.as_mut_bytes()[..len]).unwrap();
/// # fill(cloud, &points);
/// # assert!(!cloud.is_organized());
/// ```
///
/// Layout: header (88), `width`, `height` (8), `is_dense` (1), explicit
/// `_pad` (7), then 16-byte points; plain `repr(C)` with no padding for any
/// point count.
#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Message)]
#[repr(C)]
pub struct PointCloud {
    pub header: Header,
    pub width: u32,
    pub height: u32,
    /// 1 if no point is invalid (NaN).
    pub is_dense: u8,
    pub _pad: [u8; 7],
    pub points: [PointXyzi],
}

impl PointCloud {
    /// Whether the cloud is organised as rows (`height > 1`).
    pub fn is_organized(&self) -> bool {
        self.height > 1
    }

    /// The point at `(col, row)` of an organised cloud, if present.
    pub fn at(&self, col: u32, row: u32) -> Option<&PointXyzi> {
        if col >= self.width || row >= self.height {
            return None;
        }
        let index = (row as usize)
            .checked_mul(self.width as usize)?
            .checked_add(col as usize)?;
        self.points.get(index)
    }
}

impl Serialize for PointCloud {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut s = serializer.serialize_struct("PointCloud", 5)?;
        s.serialize_field("header", &self.header)?;
        s.serialize_field("width", &self.width)?;
        s.serialize_field("height", &self.height)?;
        s.serialize_field("is_dense", &self.is_dense)?;
        s.serialize_field("points", &self.points)?;
        s.end()
    }
}

impl fmt::Debug for PointCloud {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PointCloud")
            .field("header", &self.header)
            .field("width", &self.width)
            .field("height", &self.height)
            .field("is_dense", &self.is_dense)
            .field(
                "points",
                &format_args!("[PointXyzi; {}]", self.points.len()),
            )
            .finish()
    }
}
