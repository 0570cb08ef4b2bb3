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
