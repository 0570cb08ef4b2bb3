//! The toolbox's shell and commands, case by case, run as real pods. The
//! cases live in tests/toolbox_cases.txt; the toolbox crate runs the same
//! file natively in its own tests.

use crate::harness::*;
use std::sync::Arc;

#[path = "../../guests/toolbox/src/cases.rs"]
mod cases;

fn lines(s: &str) -> Vec<String> {
    s.lines().map(str::to_owned).collect()
}

#[tokio::test]
async fn toolbox_cases_pass_in_the_sandbox() {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/toolbox_cases.txt")).unwrap();
    let cases = cases::parse(&text);
    assert!(cases.len() >= 100, "only {} toolbox cases", cases.len());
    let h = Arc::new(Harness::new());
    let mut failures = Vec::new();
    // A batch of pods at a time: the cases also exercise many concurrent pods.
    for (batch_no, batch) in cases.chunks(16).enumerate() {
        let mut set = tokio::task::JoinSet::new();
        for (i, case) in batch.iter().enumerate() {
            let name = format!("case-{}", batch_no * 16 + i);
            let script = case.script.trim_end_matches('\n').to_owned();
            let mut env = vec![("CASE_SCRIPT", script.clone())];
            let command = match &case.stdin {
                Some(input) => {
                    env.push(("CASE_STDIN", input.clone()));
                    r#"printf '%s' "$CASE_STDIN" | sh -c "$CASE_SCRIPT""#.to_owned()
                }
                None => script,
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
            let want_status: i32 = case.status.as_deref().map(|s| s.trim().parse().expect("numeric status")).unwrap_or(0);
            if code != Some(want_status) {
                problems.push(format!("status {code:?}, want {want_status}"));
            }
            if let Some(want) = &case.stdout
                && got_out != lines(want)
            {
                problems.push(format!("stdout {got_out:?}, want {:?}", lines(want)));
            }
            if let Some(want) = &case.stderr
                && got_err != lines(want)
            {
                problems.push(format!("stderr {got_err:?}, want {:?}", lines(want)));
            }
            if !problems.is_empty() {
                failures.push(format!("{} ({}):\n  script: {}\n  {}", case.name, name, case.script, problems.join("\n  ")));
            }
        }
    }
    assert!(failures.is_empty(), "{} of {} toolbox cases failed:\n{}", failures.len(), cases.len(), failures.join("\n"));
}
