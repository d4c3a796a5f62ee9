//! Bad launch files never start half a robot: each class of mistake exits 2
//! with one message naming `file:line:col`, and no node is spawned (every
//! file starts with a valid node that would leave a marker file behind).

mod support;

use support::*;

/// A valid first node: if anything were started, `spawned.marker` appears.
const MARKER_NODE: &str = r#"[[node]]
name = "marker"
exec = "sh"
args = ["marker.sh"]

"#;

/// Runs `launch` on MARKER_NODE + `bad` and checks exit 2, the message and
/// that nothing was spawned. Returns the output.
fn rejects(bad: &str, extra_files: &[(&str, &str)], cli: &[&str], expect: &[&str]) -> String {
    let dir = robot_dir("bad", &format!("{MARKER_NODE}{bad}"));
    for (name, text) in extra_files {
        dir.write(name, text);
    }
    let mut args = vec!["robot.toml"];
    args.extend_from_slice(cli);
    let mut l = launch(&dir, &args);
    let code = l.wait_quiet();
    let out = l.output();
    assert_eq!(code, 2, "{out}");
    for e in expect {
        assert!(out.contains(e), "expected `{e}` in:\n{out}");
    }
    assert_eq!(out.lines().count(), 1, "one clear message:\n{out}");
    assert!(!dir.exists("spawned.marker"), "a node was started:\n{out}");
    assert!(!dir.exists("log"), "log directory created:\n{out}");
    out
}

#[test]
fn syntax_error() {
    rejects("[[node]\nname = \"x\"\n", &[], &[], &["robot.toml:6:"]);
}

#[test]
fn unknown_key() {
    rejects(
        "[[node]]\nname = \"x\"\nexec = \"sh\"\nnmae = \"y\"\n",
        &[],
        &[],
        &["robot.toml:9:1:", "unknown field `nmae`"],
    );
}

#[test]
fn unknown_launch_key() {
    rejects(
        "[launch]\ngrace_period = \"1s\"\n",
        &[],
        &[],
        &["robot.toml:7:1:", "grace_period"],
    );
}

#[test]
fn wrong_type() {
    rejects(
        "[[node]]\nname = \"x\"\nexec = \"sh\"\nrequired = \"yes\"\n",
        &[],
        &[],
        &["robot.toml:9:12:", "invalid type"],
    );
}

#[test]
fn bad_respawn_policy() {
    rejects(
        "[[node]]\nname = \"x\"\nexec = \"sh\"\nrespawn = \"sometimes\"\n",
        &[],
        &[],
        &["robot.toml:9:11:", "sometimes"],
    );
}

#[test]
fn bad_duration() {
    rejects(
        "[launch]\ngrace = \"soon\"\n",
        &[],
        &[],
        &["robot.toml:7:9:", "not a duration"],
    );
}

/// "5 s" used to be taken as 5 seconds although no documented spelling
/// has a space; now it is refused by name, with its place.
#[test]
fn duration_with_a_space_is_refused_with_its_place() {
    rejects(
        "[launch]\ngrace = \"5 s\"\n",
        &[],
        &[],
        &[
            "robot.toml:7:9:",
            "`5 s` is not a duration (no spaces: write the number and the unit together)",
        ],
    );
}

#[test]
fn duplicate_node_name() {
    rejects(
        "[[node]]\nname = \"marker\"\nexec = \"sh\"\n",
        &[],
        &[],
        &["robot.toml:7:8: duplicate node name `marker` (first defined at robot.toml:2:8)"],
    );
}

#[test]
fn missing_executable() {
    rejects(
        "[[node]]\nname = \"x\"\nexec = \"no-such-node-xyz\"\n",
        &[],
        &[],
        &["robot.toml:8:8:", "executable `no-such-node-xyz` not found"],
    );
}

#[test]
fn missing_executable_path_is_relative_to_the_launch_file() {
    rejects(
        "[[node]]\nname = \"x\"\nexec = \"./bin/driver\"\n",
        &[],
        &[],
        &["robot.toml:8:8:", "bin/driver"],
    );
}

#[test]
fn dependency_cycle() {
    rejects(
        "[[node]]\nname = \"a\"\nexec = \"sh\"\ndepends_on = [\"b\"]\n\n\
         [[node]]\nname = \"b\"\nexec = \"sh\"\ndepends_on = [\"a\"]\n",
        &[],
        &[],
        &["robot.toml:", "dependency cycle: a -> b -> a"],
    );
}

#[test]
fn unknown_dependency() {
    rejects(
        "[[node]]\nname = \"a\"\nexec = \"sh\"\ndepends_on = [\"ghost\"]\n",
        &[],
        &[],
        &["robot.toml:9:15:", "unknown node `ghost`"],
    );
}

#[test]
fn unknown_include_arg() {
    rejects(
        "[launch]\ninclude = [{ file = \"arm.toml\", args = { sped = 2.0 } }]\n",
        &[("arm.toml", "[launch]\nargs = { speed = 1.0 }\n")],
        &[],
        &["robot.toml:7:42:", "unknown arg `sped`", "speed"],
    );
}

#[test]
fn unknown_command_line_arg() {
    rejects(
        "[launch]\nargs = { speed = 1.0 }\n",
        &[],
        &["sped=2"],
        &["robot.toml", "unknown arg `sped`"],
    );
}

#[test]
fn command_line_arg_of_the_wrong_type() {
    rejects(
        "[launch]\nargs = { speed = 1.0 }\n",
        &[],
        &["speed=fast"],
        &["arg `speed`", "not a float"],
    );
}

#[test]
fn undeclared_arg_in_substitution() {
    rejects(
        "[[node]]\nname = \"x\"\nexec = \"sh\"\nargs = [\"${nope}\"]\n",
        &[],
        &[],
        &["robot.toml:9:9:", "`${nope}` refers to an undeclared arg"],
    );
}

#[test]
fn error_in_included_file_names_that_file() {
    rejects(
        "[launch]\ninclude = [\"arm.toml\"]\n",
        &[("arm.toml", "[[node]]\nname = \"arm\"\nexec = 5\n")],
        &[],
        &["arm.toml:3:8:", "invalid type"],
    );
}

#[test]
fn include_cycle() {
    rejects(
        "[launch]\ninclude = [\"arm.toml\"]\n",
        &[("arm.toml", "[launch]\ninclude = [\"robot.toml\"]\n")],
        &[],
        &["arm.toml:2:12:", "include cycle"],
    );
}

#[test]
fn remap_collision() {
    rejects(
        "[[node]]\nname = \"x\"\nexec = \"sh\"\nremap = { a = \"/x\", b = \"/x\" }\n",
        &[],
        &[],
        &[
            "robot.toml:9:21:",
            "remap collision",
            "`a` and `b` are both renamed to `/x`",
        ],
    );
}

#[test]
fn subscription_without_publisher() {
    rejects(
        "[[node]]\nname = \"x\"\nexec = \"sh\"\nsubscribes = { \"/cmd_vel\" = \"axon-msgs/Twist\" }\n",
        &[],
        &[],
        &["robot.toml:9:16:", "no node publishes it"],
    );
}

#[test]
fn call_without_server() {
    rejects(
        "[[node]]\nname = \"x\"\nexec = \"sh\"\ncalls = [\"/plan\"]\n",
        &[],
        &[],
        &[
            "robot.toml:9:10:",
            "`x` calls `/plan` but no node serves it",
        ],
    );
}

#[test]
fn two_servers_of_one_service() {
    rejects(
        "[[node]]\nname = \"a\"\nexec = \"sh\"\nnamespace = \"/r1\"\nserves = [\"plan\"]\n\n\
         [[node]]\nname = \"b\"\nexec = \"sh\"\nserves = [\"/r1/plan\"]\n",
        &[],
        &[],
        &[
            "robot.toml:15:11:",
            "`b` serves `/r1/plan` but `a` serves it already (robot.toml:10:11)",
        ],
    );
}

#[test]
fn bad_service_name() {
    rejects(
        "[[node]]\nname = \"x\"\nexec = \"sh\"\nserves = [\"/a b\"]\n",
        &[],
        &[],
        &["robot.toml:9:11:", "`/a b` is not a service name"],
    );
}

#[test]
fn publisher_and_subscriber_types_disagree() {
    rejects(
        "[[node]]\nname = \"p\"\nexec = \"sh\"\nnamespace = \"/r1\"\npublishes = { imu = \"axon-msgs/Imu\" }\n\n\
         [[node]]\nname = \"s\"\nexec = \"sh\"\nsubscribes = { \"/r1/imu\" = \"axon-msgs/Twist\" }\n",
        &[],
        &[],
        &["robot.toml:15:16:", "as `axon-msgs/Twist` but `p` publishes `axon-msgs/Imu`"],
    );
}

#[test]
fn good_wiring_with_namespace_remap_and_external_passes_check() {
    let dir = robot_dir(
        "check",
        &format!(
            "{MARKER_NODE}[launch]\nexternal = [\"/joy\", \"/map/save\"]\n\n\
             [[node]]\nname = \"p\"\nexec = \"sh\"\nnamespace = \"/r1\"\nremap = {{ raw = \"imu\" }}\n\
             publishes = {{ raw = \"axon-msgs/Imu\" }}\n\n\
             [[node]]\nname = \"s\"\nexec = \"sh\"\ndepends_on = [\"p\"]\n\
             subscribes = {{ \"/r1/imu\" = \"axon-msgs/Imu\", \"/joy\" = \"axon-msgs/Joy\" }}\n\
             calls = [\"/r1/reset\", \"/map/save\"]\n\n\
             [[node]]\nname = \"q\"\nexec = \"sh\"\nnamespace = \"/r1\"\nremap = {{ zero = \"reset\" }}\n\
             serves = [\"zero\"]\n"
        ),
    );
    let mut l = launch(&dir, &["--check", "robot.toml"]);
    let code = l.wait_quiet();
    let out = l.output();
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("start order: marker, p, s, q"), "{out}");
    assert!(!dir.exists("spawned.marker"));
}

#[test]
fn help_and_usage_errors() {
    let dir = TempDir::new("help");
    let mut l = launch(&dir, &["--help"]);
    assert_eq!(l.wait_quiet(), 0);
    assert!(l
        .output()
        .contains("Usage: launch [OPTIONS] <FILE> [NAME=VALUE]..."));
    let mut l = launch(&dir, &["--frobnicate"]);
    assert_eq!(l.wait_quiet(), 2);
    let mut l = launch(&dir, &["missing.toml"]);
    assert_eq!(l.wait_quiet(), 2);
    assert!(l.output().contains("missing.toml: cannot read launch file"));
}

/// `[topic."/name"]` declarations (issue 13): each mistake is refused at
/// its `file:line:col`, before anything starts.
#[test]
fn topic_declaration_history_of_zero() {
    rejects(
        "[topic.\"/cam\"]\nhistory = 0\n",
        &[],
        &[],
        &[
            "robot.toml:7:11:",
            "`history` is 0: it must be from 1 to 65536",
        ],
    );
}

#[test]
fn topic_declaration_unknown_key() {
    rejects(
        "[topic.\"/cam\"]\nhistroy = 4\n",
        &[],
        &[],
        &["robot.toml:7:1:", "unknown field `histroy`"],
    );
}

#[test]
fn topic_declaration_bad_values() {
    rejects(
        "[topic.\"/cam\"]\nreliability = \"sometimes\"\n",
        &[],
        &[],
        &[
            "robot.toml:7:15:",
            "expected \"best-effort\" or \"reliable\"",
        ],
    );
    rejects(
        "[topic.\"/cam\"]\nmax_publishers = 33\n",
        &[],
        &[],
        &[
            "robot.toml:7:18:",
            "`max_publishers` is 33: it must be from 1 to 32",
        ],
    );
    rejects(
        "[topic.\"/cam\"]\nmax_len = \"lots\"\n",
        &[],
        &[],
        &["robot.toml:7:11:", "`max_len` must be an integer"],
    );
    rejects(
        "[topic.\"/cam\"]\ntype = \"\"\n",
        &[],
        &[],
        &["robot.toml:7:8:", "the type name is empty"],
    );
}

#[test]
fn topic_declaration_names_must_be_resolved_and_valid() {
    rejects(
        "[topic.\"camera\"]\nhistory = 2\n",
        &[],
        &[],
        &[
            "robot.toml:6:8:",
            "by the resolved topic name",
            "/robot1/camera",
        ],
    );
    rejects(
        "[topic.\"/a.b\"]\nhistory = 2\n",
        &[],
        &[],
        &["robot.toml:6:8:", "may contain only"],
    );
}

#[test]
fn topic_declared_twice_across_an_include() {
    rejects(
        "[launch]\ninclude = [\"inc.toml\"]\n[topic.\"/cam\"]\nhistory = 2\n",
        &[("inc.toml", "[topic.\"/cam\"]\nhistory = 3\n")],
        &[],
        &[
            "inc.toml:1:8:",
            "declared twice (first at",
            "robot.toml:8:8",
        ],
    );
}

#[test]
fn topic_declared_type_disagrees_with_a_node() {
    rejects(
        "[topic.\"/cam\"]\ntype = \"m/Image\"\n[[node]]\nname = \"cam\"\nexec = \"sh\"\npublishes = { \"/cam\" = \"m/Imu\" }\n",
        &[],
        &[],
        &["robot.toml:11:15:", "`cam` publishes `/cam` as `m/Imu`, but the topic is declared as `m/Image` (", "robot.toml:6:8"],
    );
    rejects(
        "[topic.\"/cam\"]\ntype = \"m/Image\"\n[[node]]\nname = \"cam\"\nexec = \"sh\"\nready = { topic = \"/cam\", type = \"m/Imu\" }\n",
        &[],
        &[],
        &["robot.toml:11:34:", "waits for a publisher of `m/Imu` on `/cam`, but the topic is declared as `m/Image`"],
    );
    rejects(
        "[[node]]\nname = \"cam\"\nexec = \"sh\"\nready = { log = \"up\", type = \"m/Imu\" }\n",
        &[],
        &[],
        &["robot.toml:9:", "`ready.type` needs `ready.topic`"],
    );
}

// `[[zenoh]]` tables (an `axon-zenoh` gateway): every mistake is refused
// before anything starts, with its place; the gateway binary is looked
// for only after the table's own settings are good, so these refusals do
// not depend on whether `axon-zenoh` is built.

#[test]
fn zenoh_table_with_a_bad_pattern() {
    rejects(
        "[[zenoh]]\nname = \"gw\"\nexport = [\"/odom\", \"camera\"]\n",
        &[],
        &[],
        &["robot.toml:8:20:", "`camera` is not a topic pattern"],
    );
}

#[test]
fn zenoh_table_that_neither_exports_nor_imports_nor_routes() {
    rejects(
        "[[zenoh]]\nname = \"gw\"\n",
        &[],
        &[],
        &[
            "robot.toml:7:8:",
            "zenoh `gw` neither exports nor imports a topic (a gateway that only routes Zenoh needs its `config`)",
        ],
    );
}

#[test]
fn zenoh_table_with_a_missing_or_device_config() {
    rejects(
        "[[zenoh]]\nname = \"gw\"\nconfig = \"zenoh.json5\"\nimport = [\"/**\"]\n",
        &[],
        &[],
        &[
            "robot.toml:8:10:",
            "cannot read the Zenoh config",
            "zenoh.json5",
        ],
    );
    // A device (or FIFO) would hang or exhaust the gateway: refused here.
    rejects(
        "[[zenoh]]\nname = \"gw\"\nconfig = \"/dev/zero\"\nimport = [\"/**\"]\n",
        &[],
        &[],
        &[
            "robot.toml:8:10:",
            "cannot read the Zenoh config /dev/zero: it is not a regular file (a character device)",
        ],
    );
}

#[test]
fn zenoh_table_with_a_bad_zenoh_domain_or_domain() {
    rejects(
        "[[zenoh]]\nname = \"gw\"\nzenoh_domain = \"fleet/*\"\nimport = [\"/**\"]\n",
        &[],
        &[],
        &[
            "robot.toml:8:16:",
            "zenoh_domain `fleet/*`: expected 1 to 64 ASCII letters, digits, `_`, `-` or `.`",
        ],
    );
    rejects(
        "[[zenoh]]\nname = \"gw\"\ndomain = \"a/b\"\nimport = [\"/**\"]\n",
        &[],
        &[],
        &["robot.toml:8:10:"],
    );
}

#[test]
fn zenoh_table_with_an_unknown_key_or_a_taken_name() {
    rejects(
        "[[zenoh]]\nname = \"gw\"\nconifg = \"z.json5\"\n",
        &[],
        &[],
        &["robot.toml:8:1:", "unknown field `conifg`"],
    );
    rejects(
        "[[zenoh]]\nname = \"marker\"\nimport = [\"/**\"]\n",
        &[],
        &[],
        &["robot.toml:7:8: duplicate node name `marker` (first defined at robot.toml:2:8)"],
    );
}

#[test]
fn zenoh_table_with_a_bad_ros2_pattern_or_ros_domain() {
    rejects(
        "[[zenoh]]\nname = \"gw\"\nros2_export = [\"/odom\", \"scan\"]\n",
        &[],
        &[],
        &["robot.toml:8:25:", "`scan` is not a topic pattern"],
    );
    rejects(
        "[[zenoh]]\nname = \"gw\"\nros2_import = [\"/cmd_vel/\"]\n",
        &[],
        &[],
        &["robot.toml:8:16:", "is not a topic pattern"],
    );
    // ROS 2 domain ids are 0 to 232 (what `axon-zenoh --ros-domain` takes).
    for bad in ["233", "-1", "4294967296"] {
        rejects(
            &format!("[[zenoh]]\nname = \"gw\"\nros2_export = [\"/odom\"]\nros_domain = {bad}\n"),
            &[],
            &[],
            &[
                "robot.toml:9:14:",
                &format!("`ros_domain` is a ROS domain id from 0 to 232, not {bad}"),
            ],
        );
    }
    rejects(
        "[[zenoh]]\nname = \"gw\"\nros2_export = [\"/odom\"]\nros_domain = \"7\"\n",
        &[],
        &[],
        &["robot.toml:9:14:", "invalid type: string"],
    );
}
