//! Hostile launch files: FIFOs, devices, huge and endless files, include
//! chains and fans, deep nesting, invalid UTF-8, exponential arg
//! substitution and huge dependency chains. Each one runs the real
//! `launch --check` under the support watchdog and must exit 2 with one
//! exact `file:line:col: message` line: no hang, no crash, no unbounded
//! memory. (Found by an attack campaign, issue 12.)

mod support;

use std::fmt::Write as _;
use std::io::Write as _;

use support::*;

/// Runs `launch --check <file>` in `dir` and returns (exit code, output).
fn check(dir: &TempDir, file: &str) -> (i32, String) {
    let mut l = launch(dir, &["--check", file]);
    let code = l.wait_quiet();
    (code, l.output())
}

/// `launch --check <file>` exits 2 with exactly `launch: error: <message>`.
#[track_caller]
fn refused(dir: &TempDir, file: &str, message: &str) {
    let (code, out) = check(dir, file);
    assert_eq!(
        out.trim_end(),
        format!("launch: error: {message}"),
        "exit code {code}"
    );
    assert_eq!(code, 2, "{out}");
}

fn mkfifo(dir: &TempDir, name: &str) {
    nix::unistd::mkfifo(&dir.path().join(name), nix::sys::stat::Mode::S_IRWXU).unwrap();
}

#[test]
fn fifo_include_is_refused_not_hung() {
    let dir = robot_dir("fifo-inc", "[launch]\ninclude = [\"pipe.toml\"]\n");
    mkfifo(&dir, "pipe.toml");
    refused(
        &dir,
        "robot.toml",
        "robot.toml:2:12: cannot include ./pipe.toml: it is not a regular file (a FIFO)",
    );
}

#[test]
fn fifo_launch_file_is_refused_not_hung() {
    let dir = TempDir::new("fifo-top");
    mkfifo(&dir, "pipe.toml");
    refused(
        &dir,
        "pipe.toml",
        "pipe.toml: cannot read launch file: it is not a regular file (a FIFO)",
    );
}

#[test]
fn fifo_secret_file_is_refused_at_check_not_hung_in_the_link() {
    let dir = robot_dir(
        "fifo-secret",
        "[[link]]\nname = \"base\"\ntransport = \"tcp\"\nlisten = \"7447\"\n\
         export = [\"/x\"]\nsecret_file = \"pipe.key\"\n",
    );
    mkfifo(&dir, "pipe.key");
    refused(
        &dir,
        "robot.toml",
        "robot.toml:6:15: cannot read the secret file ./pipe.key: it is not a regular file (a FIFO)",
    );
}

#[test]
fn dev_zero_include_is_refused_not_read_until_memory_runs_out() {
    let dir = robot_dir("zero", "[launch]\ninclude = [\"/dev/zero\"]\n");
    refused(
        &dir,
        "robot.toml",
        "robot.toml:2:12: cannot include /dev/zero: it is not a regular file (a character device)",
    );
}

#[test]
fn dev_zero_as_the_launch_file_is_refused() {
    let dir = TempDir::new("zero-top");
    refused(
        &dir,
        "/dev/zero",
        "/dev/zero: cannot read launch file: it is not a regular file (a character device)",
    );
}

#[test]
fn oversized_launch_file_is_refused_after_one_mebibyte() {
    let dir = TempDir::new("big-top");
    std::fs::write(dir.path().join("robot.toml"), vec![b'\n'; (1 << 20) + 1]).unwrap();
    refused(
        &dir,
        "robot.toml",
        "robot.toml: cannot read launch file: it is larger than 1 MiB (the limit for one launch file)",
    );
}

#[test]
fn directory_include_names_the_include_position() {
    let dir = robot_dir("dir-inc", "# robot\n[launch]\ninclude = [\"sub\"]\n");
    std::fs::create_dir(dir.path().join("sub")).unwrap();
    refused(
        &dir,
        "robot.toml",
        "robot.toml:3:12: cannot include ./sub: it is not a regular file (a directory)",
    );
}

#[test]
fn oversized_include_is_refused_after_one_mebibyte() {
    let dir = robot_dir("big-inc", "[launch]\ninclude = [\"big.toml\"]\n");
    // A valid TOML file (one comment) one byte over the limit.
    let mut big = vec![b'#'; (1 << 20) + 1];
    big[(1 << 20) - 1] = b'\n';
    std::fs::write(dir.path().join("big.toml"), &big).unwrap();
    refused(
        &dir,
        "robot.toml",
        "robot.toml:2:12: cannot include ./big.toml: it is larger than 1 MiB (the limit for one launch file)",
    );
}

#[test]
fn includes_together_are_bounded_to_sixteen_mebibytes() {
    // 17 includes of one 1,000,000-byte file: the 17th crosses 16 MiB.
    let mut top = String::from("[launch]\ninclude = [");
    let mut col_of_17th = 0;
    for i in 0..17 {
        if i == 16 {
            col_of_17th = top.len() - "[launch]\n".len() + 1;
        }
        top.push_str("\"big.toml\", ");
    }
    top.push_str("]\n");
    let dir = robot_dir("total", &top);
    let mut big = vec![b'#'; 1_000_000];
    big[999_999] = b'\n';
    std::fs::write(dir.path().join("big.toml"), &big).unwrap();
    refused(
        &dir,
        "robot.toml",
        &format!(
            "robot.toml:2:{col_of_17th}: cannot include ./big.toml: the launch file and its includes \
             are larger than 16 MiB together (the limit for one launch)"
        ),
    );
}

#[test]
fn include_fan_out_is_bounded_in_files_read() {
    // One small file included 1,100 times: the 1,024th file read is the last.
    let mut top = String::from("[launch]\ninclude = [");
    let mut col = 0;
    for i in 0..1100 {
        if i == 1023 {
            col = top.len() - "[launch]\n".len() + 1;
        }
        top.push_str("\"e.toml\",");
    }
    top.push_str("]\n");
    let dir = robot_dir("fan", &top);
    dir.write("e.toml", "# nothing\n");
    refused(
        &dir,
        "robot.toml",
        &format!(
            "robot.toml:2:{col}: cannot include ./e.toml: more than 1024 launch files read \
             (the limit for one launch)"
        ),
    );
}

#[test]
fn include_chain_of_ten_thousand_is_refused_not_a_stack_overflow() {
    let dir = robot_dir("chain", "[launch]\ninclude = [\"inc1.toml\"]\n");
    for i in 1..10_000 {
        dir.write(
            &format!("inc{i}.toml"),
            &format!("# link {i}\n[launch]\ninclude = [\"inc{}.toml\"]\n", i + 1),
        );
    }
    dir.write("inc10000.toml", "");
    refused(
        &dir,
        "robot.toml",
        "./inc32.toml:3:12: cannot include ./inc33.toml: includes nested more than 32 deep \
         (robot.toml -> ./inc1.toml -> ./inc2.toml -> ... -> ./inc31.toml -> ./inc32.toml -> ./inc33.toml)",
    );
}

#[test]
fn include_chain_of_thirty_two_is_fine() {
    let dir = robot_dir("chain32", "[launch]\ninclude = [\"inc1.toml\"]\n");
    for i in 1..32 {
        dir.write(
            &format!("inc{i}.toml"),
            &format!("[launch]\ninclude = [\"inc{}.toml\"]\n", i + 1),
        );
    }
    dir.write("inc32.toml", "");
    let (code, out) = check(&dir, "robot.toml");
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("robot.toml is valid: 0 node(s)"), "{out}");
}

#[test]
fn include_cycle_through_three_files_is_refused() {
    let dir = robot_dir("cycle3", "[launch]\ninclude = [\"a.toml\"]\n");
    dir.write("a.toml", "[launch]\ninclude = [\"b.toml\"]\n");
    dir.write("b.toml", "\n[launch]\ninclude = [\"robot.toml\"]\n");
    refused(
        &dir,
        "robot.toml",
        "./b.toml:3:12: include cycle: ./robot.toml is already being included",
    );
}

#[test]
fn deeply_nested_arrays_are_refused_not_a_stack_overflow() {
    let text = format!("[launch]\nargs = {{ x = {} }}\n", "[".repeat(100_000));
    let dir = robot_dir("nest-array", &text);
    refused(
        &dir,
        "robot.toml",
        "robot.toml:2:76: values nested more than 64 deep (the limit for a launch file)",
    );
}

#[test]
fn deeply_nested_inline_tables_are_refused_not_a_stack_overflow() {
    let text = format!(
        "[[node]]\nname = \"n\"\nexec = \"sh\"\nparams = {}\n",
        "{a=".repeat(100_000)
    );
    let dir = robot_dir("nest-table", &text);
    refused(
        &dir,
        "robot.toml",
        "robot.toml:4:196: values nested more than 64 deep (the limit for a launch file)",
    );
}

#[test]
fn deeply_dotted_keys_are_refused_not_a_stack_overflow() {
    let text = format!("[launch.args]\nx{} = 1\n", ".x".repeat(100_000));
    let dir = robot_dir("nest-dots", &text);
    refused(
        &dir,
        "robot.toml",
        "robot.toml:2:126: values nested more than 64 deep (the limit for a launch file)",
    );
}

#[test]
fn dotted_keys_inside_inline_tables_cannot_nest_thousands_deep() {
    // Within the TOML parser's own limit (80 brackets, 80 keys per path),
    // 70 dotted levels in each of 70 inline tables nest 4,970 deep; that
    // was accepted before and recursed that deep in every later step.
    let level = format!("{}a = {{", "a.".repeat(70));
    let text = format!(
        "[[node]]\nname = \"n\"\nexec = \"sh\"\nparams = {{{}{}\n",
        level.repeat(70),
        "}".repeat(71)
    );
    let dir = robot_dir("nest-mixed", &text);
    refused(
        &dir,
        "robot.toml",
        "robot.toml:4:134: values nested more than 64 deep (the limit for a launch file)",
    );
}

#[test]
fn invalid_utf8_in_include_names_the_bad_byte_and_the_include() {
    let dir = robot_dir("utf8", "[launch]\ninclude = [\"inc.toml\"]\n");
    std::fs::write(
        dir.path().join("inc.toml"),
        b"# one\n# two\n# \xc3\xa9t\xff\xfe\n",
    )
    .unwrap();
    refused(
        &dir,
        "robot.toml",
        "./inc.toml:3:5: invalid UTF-8 (included at robot.toml:2:12)",
    );
}

#[test]
fn invalid_utf8_in_the_launch_file_names_the_bad_byte() {
    let dir = TempDir::new("utf8-top");
    std::fs::write(
        dir.path().join("robot.toml"),
        b"[launch]\ngrace = \"1\x80s\"\n",
    )
    .unwrap();
    refused(&dir, "robot.toml", "robot.toml:2:11: invalid UTF-8");
}

#[test]
fn exponential_arg_substitution_through_includes_is_bounded() {
    // Each level doubles `s`: 2^32 bytes at the bottom without a bound.
    let dir = robot_dir(
        "subst",
        "[launch]\nargs = { s = \"0123456789abcdef\" }\ninclude = [{ file = \"inc1.toml\", args = { s = \"${s}${s}\" } }]\n",
    );
    for i in 1..=31 {
        dir.write(
            &format!("inc{i}.toml"),
            &format!(
                "[launch]\nargs = {{ s = \"\" }}\ninclude = [{{ file = \"inc{}.toml\", args = {{ s = \"${{s}}${{s}}\" }} }}]\n",
                i + 1
            ),
        );
    }
    dir.write("inc32.toml", "[launch]\nargs = { s = \"\" }\n");
    // 16 bytes doubled k times is 2^(k+4): through inc20's include 2^26 - 32
    // bytes were substituted; inc21's first `${s}` (2^25) crosses 64 MiB.
    refused(
        &dir,
        "robot.toml",
        "./inc21.toml:3:48: args and environment expand to more than 64 MiB in all (the limit for one launch)",
    );
}

#[test]
fn exponential_typed_arg_copies_are_bounded() {
    // Exact "${s}" keeps the arg's type: an array that doubles each level.
    let dir = robot_dir(
        "subst-typed",
        "[launch]\nargs = { s = [\"0123456789abcdef\"] }\ninclude = [{ file = \"inc1.toml\", args = { s = [\"${s}\", \"${s}\"] } }]\n",
    );
    for i in 1..=31 {
        dir.write(
            &format!("inc{i}.toml"),
            &format!(
                "[launch]\nargs = {{ s = [] }}\ninclude = [{{ file = \"inc{}.toml\", args = {{ s = [\"${{s}}\", \"${{s}}\"] }} }}]\n",
                i + 1
            ),
        );
    }
    dir.write("inc32.toml", "[launch]\nargs = { s = [] }\n");
    let (code, out) = check(&dir, "robot.toml");
    assert_eq!(code, 2, "{out}");
    assert!(
        out.contains(
            ": args and environment expand to more than 64 MiB in all (the limit for one launch)"
        ),
        "{out}"
    );
    assert_eq!(out.lines().count(), 1, "{out}");
}

#[test]
fn env_copied_into_every_node_is_bounded() {
    // 400 KiB of [launch] env copied into each of 200 nodes is 80 MiB.
    let mut text = String::from("[launch]\nenv = { ");
    for i in 0..400 {
        write!(text, "V{i} = \"{}\", ", "x".repeat(1000)).unwrap();
    }
    text.push_str("}\n");
    for i in 0..200 {
        write!(text, "[[node]]\nname = \"n{i}\"\nexec = \"sh\"\n").unwrap();
    }
    let dir = robot_dir("env", &text);
    let (code, out) = check(&dir, "robot.toml");
    assert_eq!(code, 2, "{out}");
    assert!(
        out.contains(
            ": args and environment expand to more than 64 MiB in all (the limit for one launch)"
        ),
        "{out}"
    );
}

#[test]
fn ten_thousand_node_dependency_chain_is_checked_without_a_stack_overflow() {
    // Node i depends on node i+1: the dependency walk goes 10,000 deep and
    // the start order is the reverse of the file order.
    let n = 10_000;
    let mut text = String::new();
    for i in 0..n {
        write!(text, "[[node]]\nname = \"n{i}\"\nexec = \"sh\"\n").unwrap();
        if i + 1 < n {
            writeln!(text, "depends_on = [\"n{}\"]", i + 1).unwrap();
        }
    }
    let dir = robot_dir("depchain", &text);
    let (code, out) = check(&dir, "robot.toml");
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("robot.toml is valid: 10000 node(s), start order: n9999, n9998, n9997"),
        "{}",
        &out[..out.len().min(300)]
    );
}

#[test]
fn more_than_ten_thousand_processes_are_refused() {
    let mut f = std::io::BufWriter::new(Vec::new());
    for i in 0..10_001 {
        write!(f, "[[node]]\nname = \"n{i}\"\nexec = \"sh\"\n").unwrap();
    }
    let text = String::from_utf8(f.into_inner().unwrap()).unwrap();
    let dir = robot_dir("many", &text);
    refused(
        &dir,
        "robot.toml",
        "robot.toml:30002:8: more than 10000 nodes and links (the limit for one launch)",
    );
}

/// `[topic]` declarations are bounded (what every node must read): 4096
/// of the largest kind load (from four includes: a file is at most 1 MiB),
/// and the 4097th is refused at its table.
#[test]
fn topic_declarations_are_bounded_to_4096() {
    let dir = TempDir::new("topicdecls");
    let long_type = "t".repeat(128);
    let mut parts = Vec::new();
    for part in 0..4 {
        let mut text = String::new();
        for i in part * 1024..(part + 1) * 1024 {
            let name = format!("/{:0>199}", i);
            writeln!(
                text,
                "[topic.\"{name}\"]\ntype = \"{long_type}\"\nhistory = 65536\n\
                 max_len = 4294967295\nreliability = \"best-effort\"\n\
                 durability = \"transient-local\"\nmax_publishers = 32\nmax_subscribers = 64"
            )
            .unwrap();
        }
        let file = format!("part{part}.toml");
        dir.write(&file, &text);
        parts.push(format!("{file:?}"));
    }
    dir.write(
        "ok.toml",
        &format!("[launch]\ninclude = [{}]\n", parts.join(", ")),
    );
    let (code, out) = check(&dir, "ok.toml");
    assert_eq!(code, 0, "{out}");
    dir.write("extra.toml", "[topic.\"/one_more\"]\n");
    parts.push("\"extra.toml\"".to_owned());
    dir.write(
        "robot.toml",
        &format!("[launch]\ninclude = [{}]\n", parts.join(", ")),
    );
    refused(
        &dir,
        "robot.toml",
        "./extra.toml:1:8: more than 4096 `[topic]` declarations (the limit for one launch)",
    );
}
