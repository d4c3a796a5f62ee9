//! The `axon-zenoh` command line, parsed into a [`GatewayConfig`].

use std::path::PathBuf;

use axon::link::{Limits, Pattern};
use axon::Domain;

/// Usage text.
pub const USAGE: &str = "\
usage: axon-zenoh --name NAME [--config FILE] [--zenoh-domain NAME] [--domain NAME]
                  [--export PATTERN]... [--import PATTERN]... [--reliable PATTERN]...

  --name NAME          this gateway's name; what it imports is published
                       under the node name `zenoh:NAME`
  --config FILE        a Zenoh json5 configuration, passed to Zenoh unchanged
                       (mode, listen/connect endpoints, scouting, TLS, access
                       control); default: Zenoh's default configuration
  --zenoh-domain NAME  the <domain> of the keys axon/<domain>/<topic> (default `default`)
  --domain NAME        the local axon domain (default: AXON_DOMAIN, else `0`)
  --export PATTERN     local topics put on Zenoh (/odom, /camera/*, /camera/**, /**)
  --import PATTERN     Zenoh topics republished here
  --reliable PATTERN   exported topics that block the local publishers instead of
                       dropping their oldest samples when Zenoh or the importing
                       side is slow (lossless end to end)

ROS 2 mode (rmw_zenoh's keys, CDR, attachment and liveliness tokens):
  --ros2-export PATTERN  local topics published for ROS 2 nodes on rmw_zenoh
  --ros2-import PATTERN  ROS 2 topics (rmw_zenoh publishers) republished here
  --ros-domain N         the ROS domain id of those keys (default:
                         ROS_DOMAIN_ID, else 0)";

/// One gateway.
#[derive(Debug, Clone)]
pub struct GatewayConfig {
    /// The gateway's name.
    pub name: String,
    /// The Zenoh configuration file, if any.
    pub config: Option<PathBuf>,
    /// The `<domain>` of the Zenoh keys.
    pub zenoh_domain: String,
    /// The local axon domain.
    pub domain: Domain,
    /// Local topics exported.
    pub export: Vec<Pattern>,
    /// Remote topics imported.
    pub import: Vec<Pattern>,
    /// Exported topics with backpressure.
    pub reliable: Vec<Pattern>,
    /// What the gateway's imports may create.
    pub limits: Limits,
    /// ROS 2 mode (`crate::ros2`): topics exported, imported, the domain id.
    pub ros2: Ros2Config,
}

/// The ROS 2 mode's part of the command line.
#[derive(Debug, Clone, Default)]
pub struct Ros2Config {
    /// Local topics published on rmw_zenoh keys.
    pub export: Vec<Pattern>,
    /// rmw_zenoh topics republished here.
    pub import: Vec<Pattern>,
    /// `ROS_DOMAIN_ID`.
    pub domain_id: u32,
}

/// Largest ROS domain id taken (ROS 2 itself uses 0 to 232).
pub const MAX_ROS_DOMAIN: u32 = 232;

fn ros_domain(s: &str, what: &str) -> Result<u32, String> {
    match s.parse::<u32>() {
        Ok(n) if n <= MAX_ROS_DOMAIN => Ok(n),
        _ => Err(format!(
            "{what} `{s}`: expected a ROS domain id from 0 to {MAX_ROS_DOMAIN}"
        )),
    }
}

impl GatewayConfig {
    /// The node name imported topics are published under (the loop rule).
    pub fn import_node(&self) -> String {
        format!("zenoh:{}", self.name)
    }
}

/// Whether `s` is a usable key chunk: not empty, no `/`, `*`, `$`, `?`,
/// `#`, `@` at the start.
fn key_chunk(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.')
}

/// Parses the arguments (without the program name).
pub fn parse_args(args: &[String]) -> Result<GatewayConfig, String> {
    let mut name = None;
    let mut config = None;
    let mut zenoh_domain = "default".to_owned();
    let mut domain = None;
    let (mut export, mut import, mut reliable) = (Vec::new(), Vec::new(), Vec::new());
    let mut ros2 = Ros2Config::default();
    let mut ros_domain_arg = None;
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let mut value = || {
            it.next()
                .cloned()
                .ok_or_else(|| format!("{flag} needs a value"))
        };
        match flag.as_str() {
            "--name" => name = Some(value()?),
            "--config" => config = Some(PathBuf::from(value()?)),
            "--zenoh-domain" => zenoh_domain = value()?,
            "--domain" => domain = Some(value()?),
            "--export" => export.push(Pattern::new(&value()?)?),
            "--import" => import.push(Pattern::new(&value()?)?),
            "--reliable" => reliable.push(Pattern::new(&value()?)?),
            "--ros2-export" => ros2.export.push(Pattern::new(&value()?)?),
            "--ros2-import" => ros2.import.push(Pattern::new(&value()?)?),
            "--ros-domain" => ros_domain_arg = Some(ros_domain(&value()?, "--ros-domain")?),
            other => return Err(format!("unknown argument `{other}`")),
        }
    }
    let name = name.ok_or("--name is required")?;
    axon::names::validate_node_name(&name).map_err(|e| e.to_string())?;
    if !key_chunk(&zenoh_domain) {
        return Err(format!(
            "--zenoh-domain `{zenoh_domain}`: expected 1 to 64 ASCII letters, digits, `_`, `-` or `.`"
        ));
    }
    let domain = match domain {
        Some(d) => Domain::new(
            std::env::var_os(Domain::DIR_ENV)
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from("/dev/shm")),
            &d,
        ),
        None => Domain::from_env(),
    }
    .map_err(|e| e.to_string())?;
    ros2.domain_id = match ros_domain_arg {
        Some(n) => n,
        None => match std::env::var("ROS_DOMAIN_ID") {
            Ok(v) if !v.is_empty() => ros_domain(&v, "ROS_DOMAIN_ID")?,
            _ => 0,
        },
    };
    Ok(GatewayConfig {
        name,
        config,
        zenoh_domain,
        domain,
        export,
        import,
        reliable,
        limits: Limits::default(),
        ros2,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn parses_and_refuses() {
        let c = parse_args(&s(&[
            "--name",
            "gw",
            "--export",
            "/odom",
            "--import",
            "/cmd/**",
            "--zenoh-domain",
            "fleet",
            "--domain",
            "d1",
        ]))
        .unwrap();
        assert_eq!(c.import_node(), "zenoh:gw");
        assert_eq!(c.zenoh_domain, "fleet");
        assert_eq!(c.domain.name(), "d1");
        assert!(parse_args(&s(&["--export", "/odom"])).is_err());
        assert!(parse_args(&s(&["--name", "gw", "--export", "odom"])).is_err());
        assert!(parse_args(&s(&["--name", "gw", "--zenoh-domain", "a/b"])).is_err());
        assert!(parse_args(&s(&["--name", "gw", "--zenoh-domain", "**"])).is_err());
        assert!(parse_args(&s(&["--name", "gw", "--bogus"])).is_err());
        let r = parse_args(&s(&[
            "--name",
            "gw",
            "--ros2-export",
            "/odom",
            "--ros2-import",
            "/cmd_vel",
            "--ros-domain",
            "7",
        ]))
        .unwrap();
        assert_eq!(r.ros2.domain_id, 7);
        assert_eq!(r.ros2.export.len(), 1);
        assert_eq!(r.ros2.import.len(), 1);
        assert!(parse_args(&s(&["--name", "gw", "--ros-domain", "233"])).is_err());
        assert!(parse_args(&s(&["--name", "gw", "--ros-domain", "x"])).is_err());
    }
}
