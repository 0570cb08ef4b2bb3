//! wasmpod's toolbox: one WASI program that provides `sh` and the usual
//! busybox commands, so Pods using images like `alpine` or `busybox` run
//! unchanged. Like busybox it is a multi-call program: it dispatches on the
//! basename of argv[0] (`/bin/sh`, `date`), or on argv[1] when called as
//! `toolbox` (`toolbox sh -c ...`, `toolbox --list`).

#[cfg(test)]
mod cases;
mod cmd;
mod http;
mod identity;
mod io;
mod pattern;
mod regex;
mod relay;
mod shell;
mod stop;
#[cfg(test)]
mod tests;

use std::io::Write;

use crate::io::Io;

/// A command: `argv[0]` is the name it was invoked as.
pub type Applet = fn(&[String], &mut Io) -> i32;

/// Every command, sorted by name (`toolbox --list` prints them in order).
const APPLETS: &[(&str, Applet)] = &[
    ("[", cmd::test::main),
    ("apk", cmd::basic::apk),
    ("ash", shell::sh_main),
    ("basename", cmd::basic::basename),
    ("cat", cmd::fs::cat),
    ("cp", cmd::fs::cp),
    ("curl", cmd::curl::curl),
    ("cut", cmd::text::cut),
    ("date", cmd::date::main),
    ("dirname", cmd::basic::dirname),
    ("docker-entrypoint.sh", cmd::basic::docker_entrypoint),
    ("echo", cmd::basic::echo),
    ("egrep", cmd::grep::main),
    ("env", cmd::basic::env),
    ("false", cmd::basic::false_),
    ("fgrep", cmd::grep::main),
    ("grep", cmd::grep::main),
    ("head", cmd::text::head),
    ("hostname", cmd::basic::hostname),
    ("httpd", cmd::serve::httpd),
    ("id", cmd::basic::id),
    ("ipc", cmd::ipc::ipc),
    ("ipcs", cmd::ipc::ipcs),
    ("kill", cmd::basic::kill),
    ("ln", cmd::fs::ln),
    ("ls", cmd::fs::ls),
    ("mkdir", cmd::fs::mkdir),
    ("mv", cmd::fs::mv),
    ("nc", cmd::nc::nc),
    ("nginx", cmd::serve::nginx),
    ("nslookup", cmd::nslookup::nslookup),
    ("printenv", cmd::basic::printenv),
    ("printf", cmd::printf::main),
    ("pwd", cmd::basic::pwd),
    ("python", cmd::serve::python),
    ("python2", cmd::serve::python),
    ("python3", cmd::serve::python),
    ("rm", cmd::fs::rm),
    ("rmdir", cmd::fs::rmdir),
    ("sed", cmd::sed::main),
    ("seq", cmd::basic::seq),
    ("sh", shell::sh_main),
    ("sleep", cmd::basic::sleep),
    ("socat", cmd::socat::socat),
    ("sort", cmd::text::sort),
    ("stat", cmd::fs::stat),
    ("tail", cmd::text::tail),
    ("tee", cmd::text::tee),
    ("test", cmd::test::main),
    ("touch", cmd::fs::touch),
    ("toolbox", toolbox_main),
    ("tr", cmd::text::tr),
    ("true", cmd::basic::true_),
    ("uname", cmd::basic::uname),
    ("uniq", cmd::text::uniq),
    ("wc", cmd::text::wc),
    ("wget", cmd::curl::wget),
    ("which", cmd::basic::which),
    ("whoami", cmd::basic::whoami),
    ("xargs", cmd::text::xargs),
];

/// Directories whose commands resolve to the toolbox (`/usr/bin/env`).
pub const BIN_DIRS: &[&str] = &["/bin", "/sbin", "/usr/bin", "/usr/sbin", "/usr/local/bin"];

/// Looks up a command by name, or by absolute path inside [`BIN_DIRS`].
pub fn find_applet(name: &str) -> Option<Applet> {
    let base = match name.rsplit_once('/') {
        Some((dir, base)) if BIN_DIRS.contains(&dir) => base,
        // The nginx image's Entrypoint lives at the root.
        Some(("", "docker-entrypoint.sh")) => "docker-entrypoint.sh",
        Some(_) => return None,
        None => name,
    };
    APPLETS.iter().find(|(n, _)| *n == base).map(|(_, f)| *f)
}

pub fn applet_names() -> impl Iterator<Item = &'static str> {
    APPLETS.iter().map(|(n, _)| *n)
}

/// The multi-call entry point, separate from `main` so tests can run it
/// in-process with captured streams.
pub fn toolbox_main(argv: &[String], io: &mut Io) -> i32 {
    let arg0 = argv.first().map(String::as_str).unwrap_or("toolbox");
    let base = arg0.rsplit('/').next().unwrap_or(arg0);
    if base != "toolbox" {
        if let Some((_, f)) = APPLETS.iter().find(|(n, _)| *n == base) {
            return f(argv, io);
        }
    }
    match argv.get(1).map(String::as_str) {
        Some("--list") => {
            for n in applet_names() {
                io.outs(n);
                io.outs("\n");
            }
            0
        }
        None | Some("--help") | Some("-h") => {
            io.outs(concat!("wasmpod toolbox ", env!("CARGO_PKG_VERSION"), ": a multi-call shell and utilities for WASI\n"));
            io.outs("Usage: toolbox COMMAND [ARGS...], or call it as COMMAND\n       toolbox --list\n");
            if argv.len() < 2 { 1 } else { 0 }
        }
        Some(name) => {
            let nb = name.rsplit('/').next().unwrap_or(name);
            match APPLETS.iter().find(|(n, _)| *n == nb) {
                Some((_, f)) => f(&argv[1..], io),
                None => {
                    io.err("toolbox", format_args!("{name}: applet not found"));
                    127
                }
            }
        }
    }
}

fn main() {
    let argv: Vec<String> = std::env::args_os().map(|a| a.to_string_lossy().into_owned()).collect();
    // The runtime passes the container's workingDir as PWD.
    if let Some(pwd) = std::env::var_os("PWD") {
        if std::path::Path::new(&pwd).is_dir() {
            let _ = std::env::set_current_dir(&pwd);
        }
    }
    let mut env: Vec<(String, String)> = std::env::vars_os().map(|(k, v)| (k.to_string_lossy().into_owned(), v.to_string_lossy().into_owned())).collect();
    if !env.iter().any(|(k, _)| k == "HOME") {
        env.push(("HOME".into(), "/".into()));
    }
    let mut io = Io::stdio(env);
    let code = toolbox_main(&argv, &mut io);
    let _ = io.stdout.flush();
    let _ = std::io::stdout().flush();
    exit(code);
}

/// Exits with `code`, whatever its value. On wasm32-wasip2, Rust's std
/// reports `exit(n)` through `wasi:cli/exit.exit`, which carries only ok or
/// err (so 2, 127... would all read as 1); `exit-with-code` carries the
/// status, and wasmpod links it.
#[cfg(all(target_os = "wasi", target_env = "p2"))]
mod bindings {
    wit_bindgen::generate!({ path: "../../wit/wasi-cli-exit", world: "toolbox" });
}

#[cfg(all(target_os = "wasi", target_env = "p2"))]
fn exit(code: i32) -> ! {
    let _ = std::io::stderr().flush();
    // Statuses are 0..=255, as on Linux (exit 256 reads as 0).
    bindings::wasi::cli::exit::exit_with_code((code & 0xff) as u8);
    unreachable!("exit-with-code returned")
}

#[cfg(not(all(target_os = "wasi", target_env = "p2")))]
fn exit(code: i32) -> ! {
    std::process::exit(code)
}
