//! Runs the shared case file (`tests/toolbox_cases.txt`, also run through
//! the real runtime by the host crate's tests) natively and in-process:
//! each case is `sh -c SCRIPT` through [`crate::toolbox_main`], with
//! captured streams and a fresh empty current directory. Cases run one
//! after another because the current directory is process-global.
//! `TOOLBOX_CASE=text` runs only the cases whose name contains `text`.

use std::rc::Rc;

use crate::io::{Input, Io, Output};

use crate::cases::parse;

fn show(label: &str, expected: &str, actual: &str) -> String {
    let mut s = format!("  {label} differs:\n");
    let (e, a): (Vec<&str>, Vec<&str>) = (expected.split_inclusive('\n').collect(), actual.split_inclusive('\n').collect());
    for i in 0..e.len().max(a.len()) {
        match (e.get(i), a.get(i)) {
            (Some(x), Some(y)) if x == y => s.push_str(&format!("      {x:?}\n")),
            (x, y) => {
                if let Some(x) = x {
                    s.push_str(&format!("    - {x:?}\n"));
                }
                if let Some(y) = y {
                    s.push_str(&format!("    + {y:?}\n"));
                }
            }
        }
    }
    s
}

#[test]
fn toolbox_cases() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/toolbox_cases.txt");
    let text = std::fs::read_to_string(path).expect("read tests/toolbox_cases.txt");
    let cases = parse(&text);
    assert!(!cases.is_empty(), "no cases in {path}");
    let filter = std::env::var("TOOLBOX_CASE").ok();
    let base = std::env::temp_dir().join(format!("toolbox-cases-{}", std::process::id()));
    let orig = std::env::current_dir().unwrap();
    let mut failures = Vec::new();
    let mut ran = 0;
    for (i, c) in cases.iter().enumerate() {
        if filter.as_ref().is_some_and(|f| !c.name.contains(f.as_str())) {
            continue;
        }
        ran += 1;
        let dir = base.join(i.to_string());
        std::fs::create_dir_all(&dir).unwrap();
        std::env::set_current_dir(&dir).unwrap();
        let (out, ob) = Output::buffer();
        let (err, eb) = Output::buffer();
        let env: Vec<(String, String)> = [("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"), ("HOME", "/"), ("HOSTNAME", "testpod")]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let mut io = Io { stdin: Input::bytes(c.stdin.clone().unwrap_or_default().into_bytes()), stdout: out, stderr: err, env: Rc::new(env) };
        let argv: Vec<String> = vec!["sh".into(), "-c".into(), c.script.clone()];
        let status = crate::toolbox_main(&argv, &mut io);
        drop(io);
        std::env::set_current_dir(&orig).unwrap();
        let stdout = String::from_utf8_lossy(&ob.borrow()).into_owned();
        let stderr = String::from_utf8_lossy(&eb.borrow()).into_owned();
        let want_status: i32 = c.status.as_deref().map(|s| s.trim().parse().expect("status is a number")).unwrap_or(0);
        let mut report = String::new();
        if let Some(e) = &c.stdout {
            if *e != stdout {
                report.push_str(&show("stdout", e, &stdout));
            }
        }
        if let Some(e) = &c.stderr {
            if *e != stderr {
                report.push_str(&show("stderr", e, &stderr));
            }
        }
        if want_status != status {
            report.push_str(&format!("  status: expected {want_status}, got {status}\n"));
            if c.stderr.is_none() && !stderr.is_empty() {
                report.push_str(&format!("  (stderr: {stderr:?})\n"));
            }
        }
        if !report.is_empty() {
            failures.push(format!("case {:?}:\n{report}", c.name));
        }
    }
    let _ = std::fs::remove_dir_all(&base);
    for f in &failures {
        eprintln!("{f}");
    }
    eprintln!("{} of {ran} cases passed", ran - failures.len());
    assert!(failures.is_empty(), "{} of {ran} cases failed", failures.len());
}
