//! Container logs on disk in the CRI format.

use crate::harness::*;

#[tokio::test]
async fn logs_are_written_in_cri_format_for_both_streams() {
    let h = Harness::new();
    let out = h.run(&shell_pod("logger", "Never", "echo out one; echo err one >&2; printf 'no newline'")).await;
    assert_eq!(phase(&out.pod), "Succeeded");
    let text = std::fs::read_to_string(h.pod_dir("logger").join("logs/main/0.log")).unwrap();
    let mut seen = Vec::new();
    for line in text.lines() {
        let mut parts = line.splitn(4, ' ');
        let ts = parts.next().unwrap();
        let ts_ok = ts.parse::<jiff::Timestamp>().is_ok() && ts.ends_with('Z') && ts.len() >= 20 && ts.as_bytes()[10] == b'T';
        assert!(ts_ok, "not RFC3339Nano: {line}");
        let stream = parts.next().unwrap();
        assert_eq!(parts.next(), Some("F"), "{line}");
        seen.push((stream.to_owned(), parts.next().unwrap_or("").to_owned()));
    }
    seen.sort();
    let s = |a: &str, b: &str| (a.to_string(), b.to_string());
    assert_eq!(seen, vec![s("stderr", "err one"), s("stdout", "no newline"), s("stdout", "out one")]);
}

/// Reads the whole of `options`' log as `kubectl logs` would show it.
async fn read_log(h: &Harness, pod: &str, options: &wasmpod::LogOptions) -> Vec<String> {
    let mut stream = h.runtime.logs("default", pod, options).unwrap_or_else(|e| panic!("{e}"));
    let mut lines = Vec::new();
    while let Some(l) = stream.next_line().await {
        lines.push(String::from_utf8(l).unwrap().trim_end_matches('\n').to_owned());
    }
    lines
}

#[tokio::test]
async fn a_guest_printing_many_lines_keeps_a_bounded_rotated_log() {
    const SIZE: u64 = 4096;
    let h = Harness::with_config(|c| c.log_rotation = wasmpod::LogRotation::new(SIZE, 3));
    let out = h.run(&shell_pod("chatty", "Never", "i=0; while [ $i -lt 2000 ]; do i=$((i+1)); echo line $i; done")).await;
    assert_eq!(phase(&out.pod), "Succeeded");
    let dir = h.pod_dir("chatty").join("logs/main");
    let mut files: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    // ~100 KB of records: rotated many times, only the newest three kept.
    assert_eq!(files.len(), 3, "{files:?}");
    for f in &files {
        let len = std::fs::metadata(f).unwrap().len();
        // Every record here is far smaller than the size, so no file may
        // pass it.
        assert!(len <= SIZE, "{} is {len} bytes", f.display());
    }
    // `logs` reads the rotated files oldest first, then the current one:
    // the newest lines, in order, without a gap.
    let all = read_log(&h, "chatty", &Default::default()).await;
    let first: usize = all[0].strip_prefix("line ").unwrap().parse().unwrap();
    assert!(first > 1000, "older lines were not removed: first is {first}");
    let expected: Vec<String> = (first..=2000).map(|i| format!("line {i}")).collect();
    assert_eq!(all, expected);
    let tail = read_log(&h, "chatty", &wasmpod::LogOptions::default().tail_lines(Some(5))).await;
    assert_eq!(tail, ["line 1996", "line 1997", "line 1998", "line 1999", "line 2000"]);
}

#[tokio::test]
async fn a_followed_log_goes_on_across_rotations() {
    // Many small files and none removed: whenever the reader polls, every
    // line is still on disk, so the followed log must be complete however
    // many rotations happened between two reads.
    let h = Harness::with_config(|c| c.log_rotation = wasmpod::LogRotation::new(512, 1000));
    let script = "i=0; while [ $i -lt 300 ]; do i=$((i+1)); echo line $i; if [ $i = 150 ]; then sleep 0.5; fi; done";
    let handle = h.start(&shell_pod("follow", "Never", script)).await;
    // Follow from the middle: the first half is in rotated files already.
    let deadline = tokio::time::Instant::now() + DEADLINE;
    while !h.stdout("follow", "main").iter().any(|l| l == "line 150") {
        assert!(tokio::time::Instant::now() < deadline, "the guest printed nothing");
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let followed =
        tokio::time::timeout(DEADLINE, read_log(&h, "follow", &wasmpod::LogOptions::default().follow(true))).await.expect("the followed log did not end");
    let expected: Vec<String> = (1..=300).map(|i| format!("line {i}")).collect();
    assert_eq!(followed, expected);
    assert!(std::fs::read_dir(h.pod_dir("follow").join("logs/main")).unwrap().count() > 10, "the log did not rotate");
    let out = tokio::time::timeout(DEADLINE, handle.wait()).await.unwrap();
    assert_eq!(phase(&out.pod), "Succeeded");
}
