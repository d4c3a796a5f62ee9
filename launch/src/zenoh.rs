//! Zenoh gateways (`[[zenoh]]` tables): a validated [`ZenohSpec`] becomes
//! the `axon-zenoh` command line ([`to_args`]). The launcher only runs the
//! binary (crate `bridge/zenoh`); it never compiles Zenoh. The Zenoh json5
//! configuration file is passed to `axon-zenoh --config` unchanged: it is
//! checked here only to be a readable regular file of at most
//! [`MAX_CONFIG_BYTES`], so a FIFO or a device is refused with its position
//! instead of hanging the gateway.

use std::path::PathBuf;

/// The executable the launcher runs for a `[[zenoh]]` (found beside
/// `launch`, else on `$PATH`).
pub const ZENOH_EXEC: &str = "axon-zenoh";

/// Largest Zenoh configuration file a `[[zenoh]]` table may name.
pub const MAX_CONFIG_BYTES: u64 = 1 << 20;

/// What only Zenoh gateways have.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZenohSpec {
    /// The Zenoh json5 configuration (absolute or relative to the launch file's directory, resolved).
    pub config: Option<PathBuf>,
    /// The `<domain>` of the keys `axon/<domain>/<topic>`, if not `default`.
    pub zenoh_domain: Option<String>,
    /// The local axon domain, if not the launcher's.
    pub domain: Option<String>,
    /// Local topic patterns put on Zenoh.
    pub export: Vec<String>,
    /// Zenoh topic patterns republished here.
    pub import: Vec<String>,
    /// Exported topic patterns that get backpressure instead of drop-oldest.
    pub reliable: Vec<String>,
    /// ROS 2 mode: local topic patterns published on rmw_zenoh keys.
    pub ros2_export: Vec<String>,
    /// ROS 2 mode: rmw_zenoh topic patterns republished here.
    pub ros2_import: Vec<String>,
    /// ROS 2 mode: the ROS domain id (0 to [`MAX_ROS_DOMAIN`]), if set.
    pub ros_domain: Option<u32>,
}

/// Largest ROS domain id a `[[zenoh]]` table takes: what `axon-zenoh
/// --ros-domain` accepts (ROS 2 itself uses 0 to 232).
pub const MAX_ROS_DOMAIN: u32 = 232;

/// Whether `s` can be the `<domain>` chunk of a key (what `axon-zenoh
/// --zenoh-domain` accepts): 1 to 64 ASCII letters, digits, `_`, `-`, `.`.
pub fn valid_zenoh_domain(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.')
}

/// The `axon-zenoh` command line for gateway `name`.
pub fn to_args(name: &str, spec: &ZenohSpec) -> Vec<String> {
    let mut a = vec!["--name".to_owned(), name.to_owned()];
    if let Some(c) = &spec.config {
        a.extend(["--config".into(), c.display().to_string()]);
    }
    if let Some(d) = &spec.zenoh_domain {
        a.extend(["--zenoh-domain".into(), d.clone()]);
    }
    if let Some(d) = &spec.domain {
        a.extend(["--domain".into(), d.clone()]);
    }
    for (flag, list) in [
        ("--export", &spec.export),
        ("--import", &spec.import),
        ("--reliable", &spec.reliable),
        ("--ros2-export", &spec.ros2_export),
        ("--ros2-import", &spec.ros2_import),
    ] {
        for p in list {
            a.extend([flag.to_owned(), p.clone()]);
        }
    }
    if let Some(d) = spec.ros_domain {
        a.extend(["--ros-domain".into(), d.to_string()]);
    }
    a
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn args_name_every_setting() {
        let spec = ZenohSpec {
            config: Some(PathBuf::from("/etc/z.json5")),
            zenoh_domain: Some("fleet".into()),
            domain: Some("d1".into()),
            export: vec!["/odom".into()],
            import: vec!["/cmd/**".into()],
            reliable: vec!["/odom".into()],
            ros2_export: vec!["/scan".into()],
            ros2_import: vec!["/cmd_vel".into()],
            ros_domain: Some(7),
        };
        assert_eq!(
            to_args("gw", &spec).join(" "),
            "--name gw --config /etc/z.json5 --zenoh-domain fleet --domain d1 \
             --export /odom --import /cmd/** --reliable /odom \
             --ros2-export /scan --ros2-import /cmd_vel --ros-domain 7"
        );
        assert!(valid_zenoh_domain("fleet-1.a_b"));
        assert!(!valid_zenoh_domain("a/b") && !valid_zenoh_domain("**"));
        assert!(!valid_zenoh_domain("") && !valid_zenoh_domain(&"x".repeat(65)));
    }
}
