//! Lays out the release binary's code so that what a running server executes sits together.
//!
//! The kernel maps a binary's code into a process in windows around each page it touches (16
//! pages, where they are cached), and these count in the process's resident memory. Left in the
//! order the compiler emits it, the 3 MB of functions a server runs are scattered over some 200
//! such windows of a 17 MB text, and an idle server had 11.5-12.1 MB of code resident; listed
//! first (`link/order.txt`, made by `bench/order.sh`), they sit in 3 MB, and 4.0-4.6 MB is
//! resident. A name in the list that no longer matches a function is skipped: a stale list
//! costs memory, never correctness. Names change with the dependencies, their versions and the
//! compiler (and with the profile's LTO: ThinLTO suffixed 18 % of them with `.llvm.N`, which
//! changed with the code of their module; the whole-program LTO the release profile has used
//! since suffixes none); `bench/order.sh --check` says how many still match.

use std::collections::hash_map::DefaultHasher;
use std::env;
use std::fs;
use std::hash::{Hash, Hasher};
use std::path::Path;
use std::process::Command;

fn main() {
    // The list of the checkout being built, named relative to it: the compiled build script and
    // its last output are shared by every checkout that builds into the same target folder
    // (CI's clones do), and a path fixed when this script was compiled named another checkout's
    // list, or one that no longer exists.
    println!("cargo:rerun-if-changed=link/order.txt");
    let order =
        Path::new(&env::var("CARGO_MANIFEST_DIR").unwrap_or_default()).join("link/order.txt");
    println!("cargo:rerun-if-env-changed=CARGO_ENCODED_RUSTFLAGS");
    if env::var("PROFILE").as_deref() != Ok("release") || !links_with_lld() {
        return;
    }
    // The linker reads the list from a file named after its content: cargo links the binary
    // anew when its link arguments change, not when a file one of them names does.
    let (Ok(list), Ok(out)) = (fs::read(&order), env::var("OUT_DIR")) else {
        return;
    };
    let mut hasher = DefaultHasher::new();
    list.hash(&mut hasher);
    let copy = Path::new(&out).join(format!("order-{:016x}.txt", hasher.finish()));
    if fs::write(&copy, &list).is_ok() {
        println!(
            "cargo:rustc-link-arg-bin=heliogate=-Wl,--symbol-ordering-file={}",
            copy.display()
        );
        println!("cargo:rustc-link-arg-bin=heliogate=-Wl,--no-warn-symbol-ordering");
    }
}

/// Whether the binary is linked by LLD, which takes an ordering of symbols: rustc's own linker
/// on x86-64 Linux since Rust 1.90, unless the build asks for another.
fn links_with_lld() -> bool {
    let target = env::var("TARGET").unwrap_or_default();
    let flags = env::var("CARGO_ENCODED_RUSTFLAGS").unwrap_or_default();
    if target != "x86_64-unknown-linux-gnu" || flags.contains("linker") || flags.contains("fuse-ld")
    {
        return false;
    }
    let rustc = env::var("RUSTC").unwrap_or_else(|_| "rustc".to_owned());
    let Ok(out) = Command::new(rustc).arg("-V").output() else {
        return false;
    };
    // "rustc 1.95.0 (…)"
    let version = String::from_utf8_lossy(&out.stdout);
    let minor = version
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.split('.').nth(1))
        .and_then(|m| m.parse::<u32>().ok());
    minor.is_some_and(|m| m >= 90)
}
