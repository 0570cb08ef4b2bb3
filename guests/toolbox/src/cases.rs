//! The toolbox case-file format (`tests/toolbox_cases.txt`), parsed here
//! for both runners: the toolbox's native tests and the host crate's
//! integration test (which includes this file by path). std only.
//!
//! A line `=== NAME` starts a case; `--- SECTION` (script, stdin, stdout,
//! stderr, status) starts a section; other lines are taken verbatim, each
//! ending in a newline.

/// One case; sections absent from the file are `None` (or empty).
#[derive(Default, Debug)]
pub struct Case {
    pub name: String,
    pub script: String,
    pub stdin: Option<String>,
    pub stdout: Option<String>,
    pub stderr: Option<String>,
    pub status: Option<String>,
}

pub fn parse(text: &str) -> Vec<Case> {
    let mut cases: Vec<Case> = Vec::new();
    let mut section: Option<String> = None;
    let body = text.strip_suffix('\n').unwrap_or(text);
    for line in body.split('\n') {
        if let Some(name) = line.strip_prefix("=== ") {
            cases.push(Case { name: name.to_owned(), ..Default::default() });
            section = None;
            continue;
        }
        let Some(case) = cases.last_mut() else { continue };
        if let Some(s) = line.strip_prefix("--- ") {
            let s = s.trim().to_owned();
            let slot = match s.as_str() {
                "script" => &mut case.script,
                "stdin" => case.stdin.get_or_insert_with(String::new),
                "stdout" => case.stdout.get_or_insert_with(String::new),
                "stderr" => case.stderr.get_or_insert_with(String::new),
                "status" => case.status.get_or_insert_with(String::new),
                other => panic!("case {:?}: unknown section {other:?}", case.name),
            };
            slot.clear();
            section = Some(s);
            continue;
        }
        let slot = match section.as_deref() {
            Some("script") => &mut case.script,
            Some("stdin") => case.stdin.as_mut().unwrap(),
            Some("stdout") => case.stdout.as_mut().unwrap(),
            Some("stderr") => case.stderr.as_mut().unwrap(),
            Some("status") => case.status.as_mut().unwrap(),
            _ => continue,
        };
        slot.push_str(line);
        slot.push('\n');
    }
    cases
}
