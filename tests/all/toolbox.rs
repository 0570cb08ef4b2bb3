//! The toolbox's shell and commands, case by case, run as real pods. The
//! cases live in tests/toolbox_cases.txt; the toolbox crate runs the same
//! file natively in its own tests.

use crate::harness::*;
use std::sync::Arc;

struct Case {
    name: String,
    script: String,
    stdin: Option<String>,
    stdout: Option<String>,
    stderr: Option<String>,
    status: i32,
}

fn parse_cases(text: &str) -> Vec<Case> {
    let mut cases = Vec::new();
    let mut cur: Option<(String, Vec<(String, String)>)> = None;
    let mut section: Option<(String, String)> = None;
    let flush_section = |cur: &mut Option<(String, Vec<(String, String)>)>, section: &mut Option<(String, String)>| {
        if let (Some(c), Some(s)) = (cur.as_mut(), section.take()) {
            c.1.push(s);
        }
    };
    let mut finish = |cur: Option<(String, Vec<(String, String)>)>| {
        if let Some((name, sections)) = cur {
            let get = |k: &str| sections.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
            cases.push(Case {
                script: get("script").unwrap_or_else(|| panic!("case {name:?} has no script")).trim_end_matches('\n').to_owned(),
                stdin: get("stdin"),
                stdout: get("stdout"),
                stderr: get("stderr"),
                status: get("status").map(|s| s.trim().parse().unwrap()).unwrap_or(0),
                name,
            });
        }
    };
    for line in text.split_inclusive('\n') {
        if let Some(name) = line.strip_prefix("=== ") {
            flush_section(&mut cur, &mut section);
            finish(cur.take());
            cur = Some((name.trim().to_owned(), Vec::new()));
        } else if let Some(sec) = line.strip_prefix("--- ") {
            flush_section(&mut cur, &mut section);
            section = Some((sec.trim().to_owned(), String::new()));
        } else if let Some((_, body)) = section.as_mut() {
            body.push_str(line);
        }
    }
    flush_section(&mut cur, &mut section);
    finish(cur);
    cases
}

fn lines(s: &str) -> Vec<String> {
    s.lines().map(str::to_owned).collect()
}

#[tokio::test]
async fn toolbox_cases_pass_in_the_sandbox() {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/toolbox_cases.txt")).unwrap();
    let cases = parse_cases(&text);
    assert!(cases.len() >= 100, "only {} toolbox cases", cases.len());
    let h = Arc::new(Harness::new());
    let mut failures = Vec::new();
    // A batch of pods at a time: the cases also exercise many concurrent pods.
    for (batch_no, batch) in cases.chunks(16).enumerate() {
        let mut set = tokio::task::JoinSet::new();
        for (i, case) in batch.iter().enumerate() {
            let name = format!("case-{}", batch_no * 16 + i);
            let mut env = vec![("CASE_SCRIPT", case.script.clone())];
            let command = match &case.stdin {
                Some(input) => {
                    env.push(("CASE_STDIN", input.clone()));
                    r#"printf '%s' "$CASE_STDIN" | sh -c "$CASE_SCRIPT""#.to_owned()
                }
                None => case.script.clone(),
            };
            let env_yaml: String = env.iter().map(|(k, v)| format!("    - {{name: {k}, value: {}}}\n", serde_json::to_string(v).unwrap())).collect();
            let yaml = format!(
                "apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}}}\nspec:\n  restartPolicy: Never\n  containers:\n  - name: main\n    image: alpine\n    workingDir: /case\n    command: [\"sh\", \"-c\", {}]\n    env:\n{env_yaml}",
                serde_json::to_string(&command).unwrap()
            );
            // Cases start in an empty directory (the root holds /tmp).
            let h = h.clone();
            set.spawn(async move {
                let out = h.run(&yaml).await;
                let code = exit_code(container(&out.pod, "main"));
                (name, code)
            });
        }
        let mut results = Vec::new();
        while let Some(r) = set.join_next().await {
            results.push(r.unwrap());
        }
        for (name, code) in results {
            let idx: usize = name.trim_start_matches("case-").parse().unwrap();
            let case = &cases[idx];
            let got_out = h.stdout(&name, "main");
            let got_err = h.lines_of(&name, "main", wasmpod::Stream::Stderr);
            let mut problems = Vec::new();
            if code != Some(case.status) {
                problems.push(format!("status {code:?}, want {}", case.status));
            }
            if let Some(want) = &case.stdout {
                if got_out != lines(want) {
                    problems.push(format!("stdout {got_out:?}, want {:?}", lines(want)));
                }
            }
            if let Some(want) = &case.stderr {
                if got_err != lines(want) {
                    problems.push(format!("stderr {got_err:?}, want {:?}", lines(want)));
                }
            }
            if !problems.is_empty() {
                failures.push(format!("{} ({}):\n  script: {}\n  {}", case.name, name, case.script, problems.join("\n  ")));
            }
        }
    }
    assert!(failures.is_empty(), "{} of {} toolbox cases failed:\n{}", failures.len(), cases.len(), failures.join("\n"));
}
