//! Builds the guest programs in `guests/` (a separate cargo workspace,
//! target wasm32-wasip2) and tells the crate where they are
//! (`WASMPOD_GUESTS_DIR`), so `cargo build`/`cargo test` on a fresh machine
//! needs no other step. Adds the wasm32-wasip2 target with rustup when it
//! is missing (rust-toolchain.toml alone does not install targets when
//! RUSTUP_AUTO_INSTALL=0).

use std::path::{Path, PathBuf};
use std::process::Command;

const TARGET: &str = "wasm32-wasip2";

fn main() {
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
    let guests = root.join("guests");
    println!("cargo:rerun-if-changed=guests/Cargo.toml");
    println!("cargo:rerun-if-changed=guests/Cargo.lock");
    // Every WIT package (wit/<package>/), shared by the host and the guests.
    println!("cargo:rerun-if-changed=wit");
    for dir in walk(&guests) {
        println!("cargo:rerun-if-changed={}", dir.display());
    }
    // The guests get their own target dir, shared by every profile of the
    // host build, so dev and release builds reuse one guest build.
    let target_dir = std::env::var_os("WASMPOD_GUESTS_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| root.join("target").join("wasm-guests"));

    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    ensure_target();

    let mut cmd = Command::new(&cargo);
    cmd.args(["build", "--release", "--target", TARGET, "--manifest-path"]).arg(guests.join("Cargo.toml")).arg("--target-dir").arg(&target_dir);
    // The outer build's flags and target must not leak into the guest build.
    for var in
        ["RUSTFLAGS", "CARGO_ENCODED_RUSTFLAGS", "CARGO_BUILD_TARGET", "CARGO_TARGET_DIR", "RUSTC_WORKSPACE_WRAPPER", "CARGO_MAKEFLAGS", "MAKEFLAGS", "MFLAGS"]
    {
        cmd.env_remove(var);
    }
    let status = cmd.status().unwrap_or_else(|e| panic!("cannot run {cargo} to build the guests: {e}"));
    if !status.success() {
        panic!("building the guests failed: `cargo build --release --target {TARGET} --manifest-path guests/Cargo.toml` (output above)");
    }
    let out = target_dir.join(TARGET).join("release");
    println!("cargo:rerun-if-changed=Cargo.lock");
    let lock = std::fs::read_to_string(root.join("Cargo.lock")).unwrap_or_default();
    let wasmtime = lock
        .split("[[package]]")
        .find(|p| p.contains("\nname = \"wasmtime\"\n"))
        .and_then(|p| p.lines().find_map(|l| l.strip_prefix("version = \"")))
        .map(|v| v.trim_end_matches('"').to_owned())
        .unwrap_or_else(|| "48".into());
    println!("cargo:rustc-env=WASMPOD_WASMTIME_VERSION={wasmtime}");
    println!("cargo:rustc-env=WASMPOD_GUESTS_DIR={}", out.display());
    // What this build runs: `wasmpod compile --target` takes it.
    println!("cargo:rustc-env=WASMPOD_HOST_TRIPLE={}", std::env::var("TARGET").unwrap());
}

/// Adds the wasm32-wasip2 target through rustup if the toolchain lacks it.
fn ensure_target() {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let sysroot = Command::new(&rustc).args(["--print", "sysroot"]).output().ok().map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned());
    if let Some(sysroot) = sysroot
        && Path::new(&sysroot).join("lib/rustlib").join(TARGET).exists()
    {
        return;
    }
    println!("cargo:warning=adding the {TARGET} target with rustup (needed to build the guests)");
    let ok = Command::new("rustup").args(["target", "add", TARGET]).status().map(|s| s.success()).unwrap_or(false);
    if !ok {
        panic!("the {TARGET} target is missing and `rustup target add {TARGET}` failed; install it and build again");
    }
}

/// Every directory under guests/ except build output, so edits anywhere in
/// the guest sources rebuild them.
fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = vec![dir.to_owned()];
    let Ok(entries) = std::fs::read_dir(dir) else { return out };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() && e.file_name() != "target" {
            out.extend(walk(&p));
        } else if p.is_file() {
            out.push(p);
        }
    }
    out
}
