//! The demo robot's shared content: [`sim`], the simulated world the
//! sensors measure.
//!
//! There is no node framework here: every node in `src/bin/` is written
//! against axon's public API, as a user's node would be (`axon::run` for
//! `main`, the executor's callbacks and timers, a wait set where a node
//! waits on several inputs in its own loop, params with defaults and
//! validation through `axon::Hz` / `axon::Seconds`).

pub mod sim;

/// `demo-base`'s `reset_odometry` service request: the pose to restart
/// odometry from (all zero, the default, puts the base back at the
/// origin). Try it on a running robot:
/// `axon service call /reset_odometry '{x: 1.0, y: 2.0, yaw: 0.5}'`.
#[axon::message]
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ResetOdometry {
    /// Metres.
    pub x: f64,
    /// Metres.
    pub y: f64,
    /// Radians, wrapped to (-pi, pi].
    pub yaw: f64,
}

/// The answer to [`ResetOdometry`]: the pose odometry had before.
#[axon::message]
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct OdometryReset {
    /// Metres.
    pub previous_x: f64,
    /// Metres.
    pub previous_y: f64,
    /// Radians.
    pub previous_yaw: f64,
}
