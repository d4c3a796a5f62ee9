//! The README's first example, exactly as printed, built as a crate of its
//! own that depends on `axon` alone (by path), as a new user would: a doc
//! test cannot catch a macro that needs a dependency the user does not
//! have (`axon`'s own dev-dependencies are in scope there).
//!
//! The crate lives in a temporary directory, uses the workspace's
//! `Cargo.lock` (so `--offline` finds every package) and its own target
//! directory beside this build's (`<target>/readme-crate`), which keeps the
//! artifacts between runs. Then the program runs: its publisher publishes
//! in a private `AXON_SHM_DIR`, and an error prints as one `Display` line.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

/// The first ```rust block of the README.
fn first_rust_block(readme: &str) -> String {
    let start = readme
        .lines()
        .position(|l| l.starts_with("```rust"))
        .expect("the README has a rust block");
    readme
        .lines()
        .skip(start + 1)
        .take_while(|l| !l.starts_with("```"))
        .map(|l| format!("{l}\n"))
        .collect()
}

/// The directory that holds `release/` (or `debug/`) of this build.
fn target_root() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    // <target>/<profile>/deps/readme_crate-<hash>
    exe.parent()
        .and_then(Path::parent)
        .and_then(Path::parent)
        .expect("test binary under <target>/<profile>/deps")
        .to_path_buf()
}

struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn readme_example_builds_in_a_crate_that_depends_on_axon_alone() {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let workspace = manifest.parent().unwrap();
    let readme = std::fs::read_to_string(workspace.join("README.md")).unwrap();
    let code = first_rust_block(&readme);
    assert!(
        code.contains("fn main"),
        "the README's first example is a program:\n{code}"
    );

    let dir =
        TempDir(std::env::temp_dir().join(format!("axon-readme-crate-{}", std::process::id())));
    let _ = std::fs::remove_dir_all(&dir.0);
    std::fs::create_dir_all(dir.0.join("src")).unwrap();
    std::fs::write(
        dir.0.join("Cargo.toml"),
        format!(
            "[package]\nname = \"readme-example\"\nversion = \"0.0.0\"\nedition = \"2021\"\n\n\
             [dependencies]\naxon = {{ path = {:?} }}\n\n[workspace]\n",
            manifest.display().to_string()
        ),
    )
    .unwrap();
    std::fs::copy(workspace.join("Cargo.lock"), dir.0.join("Cargo.lock")).unwrap();
    std::fs::write(dir.0.join("src/main.rs"), &code).unwrap();

    let target = target_root().join("readme-crate");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let started = Instant::now();
    let out = Command::new(&cargo)
        .args(["build", "--offline", "--quiet"])
        .current_dir(&dir.0)
        .env("CARGO_TARGET_DIR", &target)
        .env_remove("RUSTFLAGS")
        .output()
        .expect("run cargo");
    assert!(
        out.status.success(),
        "the README example does not build on its own:\n{}\n--- the code:\n{code}",
        String::from_utf8_lossy(&out.stderr)
    );
    println!(
        "README crate built in {:.1} s (target {})",
        started.elapsed().as_secs_f64(),
        target.display()
    );

    // It runs: the publisher publishes one sample in a private directory.
    let exe = target.join("debug/readme-example");
    let shm = dir.0.join("shm");
    std::fs::create_dir_all(&shm).unwrap();
    let out = Command::new(&exe)
        .arg("pub")
        .env("AXON_SHM_DIR", &shm)
        .env_remove("AXON_DOMAIN")
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");

    // An error prints as one Display line, not as a Debug structure.
    let out = Command::new(&exe)
        .arg("pub")
        .env("AXON_SHM_DIR", &shm)
        .env("AXON_DOMAIN", "not a domain!")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.starts_with("error: ") && stderr.lines().count() == 1 && !stderr.contains('{'),
        "{stderr}"
    );
}
