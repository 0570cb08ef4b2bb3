//! Termination messages, as the kubelet takes them: what a container wrote
//! to its `terminationMessagePath` (default `/dev/termination-log`), or
//! with `terminationMessagePolicy: FallbackToLogsOnError` the tail of its
//! log when it failed without writing one, becomes
//! `state.terminated.message`.
//!
//! The kubelet's limits (pkg/kubelet/container/runtime.go): the file's
//! last 4096 bytes; from the log, the last 80 lines, at most their last
//! 2048 bytes; and every container's message cut to 12 KiB divided by the
//! number of containers of the pod (the status manager's
//! `normalizeStatus`). A message the runtime already has (an OOM kill, a
//! trap) comes first, then `": "` and the container's own.

use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

/// Bytes of the termination message file kept (its end).
pub(crate) const MAX_FILE_BYTES: u64 = 4096;
/// Log lines a fallback message is taken from.
pub(crate) const MAX_LOG_LINES: usize = 80;
/// Bytes of those lines kept (their end).
pub(crate) const MAX_LOG_BYTES: usize = 2048;
/// Bytes of termination messages a pod's statuses hold in all.
pub(crate) const MAX_POD_BYTES: usize = 12 * 1024;

/// The last [`MAX_FILE_BYTES`] of the message file (empty when it is
/// missing or is not a regular file).
pub(crate) fn read_file(host: &Path) -> String {
    let Ok(mut file) = crate::volume::open_no_follow(host, std::fs::OpenOptions::new().read(true)) else { return String::new() };
    let Some(meta) = file.metadata().ok().filter(|m| m.is_file()) else { return String::new() };
    let len = meta.len();
    let _ = file.seek(SeekFrom::Start(len.saturating_sub(MAX_FILE_BYTES)));
    let mut bytes = Vec::new();
    let _ = file.take(MAX_FILE_BYTES).read_to_end(&mut bytes);
    String::from_utf8_lossy(&bytes).into_owned()
}

/// The output of the last [`MAX_LOG_LINES`] lines of a CRI log's text
/// (`<time> <stream> <P|F> <text>`; partial records joined), at most its
/// last [`MAX_LOG_BYTES`], as the kubelet reads a log for the fallback.
pub(crate) fn log_tail(cri: &str) -> String {
    let mut lines: Vec<String> = Vec::new();
    let mut partial = String::new();
    for record in cri.lines() {
        let mut fields = record.splitn(4, ' ');
        let (Some(_time), Some(_stream), Some(tag)) = (fields.next(), fields.next(), fields.next()) else { continue };
        partial.push_str(fields.next().unwrap_or_default());
        if tag != "P" {
            lines.push(std::mem::take(&mut partial) + "\n");
        }
    }
    if !partial.is_empty() {
        lines.push(partial);
    }
    let text: String = lines[lines.len().saturating_sub(MAX_LOG_LINES)..].concat();
    last_bytes(&text, MAX_LOG_BYTES).to_owned()
}

/// The message to report: the runtime's own (if any), then the
/// container's, joined by `": "`; cut to `limit` bytes.
pub(crate) fn combine(runtime: Option<String>, container: &str, limit: usize) -> Option<String> {
    let message = match (runtime, container.is_empty()) {
        (Some(r), false) => format!("{r}: {container}"),
        (Some(r), true) => r,
        (None, false) => container.to_owned(),
        (None, true) => return None,
    };
    Some(first_bytes(&message, limit).to_owned())
}

/// Each container's share of [`MAX_POD_BYTES`] in a pod of `containers`.
pub(crate) fn per_container_limit(containers: usize) -> usize {
    MAX_POD_BYTES / containers.max(1)
}

fn last_bytes(s: &str, max: usize) -> &str {
    let mut start = s.len().saturating_sub(max);
    while !s.is_char_boundary(start) {
        start += 1;
    }
    &s[start..]
}

fn first_bytes(s: &str, max: usize) -> &str {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_files_end_is_read_never_through_a_link() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("termination-log");
        std::fs::write(&file, "x".repeat(5000) + "END").unwrap();
        assert_eq!(read_file(&file).len(), 4096);
        assert!(read_file(&file).ends_with("xEND"), "the last 4096 bytes");
        #[cfg(unix)]
        {
            let secret = dir.path().join("host-secret");
            std::fs::write(&secret, "host").unwrap();
            std::fs::remove_file(&file).unwrap();
            std::os::unix::fs::symlink(&secret, &file).unwrap();
            assert_eq!(read_file(&file), "", "a link is not followed");
        }
    }

    #[test]
    fn the_fallback_is_the_logs_last_lines_and_bytes() {
        let log: String = (0..100).map(|i| format!("2026-12-02T00:00:00Z stdout F line {i}\n")).collect();
        let tail = log_tail(&log);
        assert!(tail.starts_with("line 20\n") && tail.ends_with("line 99\n"), "{tail}");
        let joined = log_tail("t stdout P ab\nt stdout F cd\nt stderr F ef\n");
        assert_eq!(joined, "abcd\nef\n");
        let long: String = (0..10).map(|i| format!("t stdout F {}\n", i.to_string().repeat(500))).collect();
        assert_eq!(log_tail(&long).len(), MAX_LOG_BYTES);
    }

    #[test]
    fn messages_combine_and_are_cut_to_the_pods_share() {
        assert_eq!(combine(Some("OOM".into()), "bye", 100).as_deref(), Some("OOM: bye"));
        assert_eq!(combine(None, "bye", 100).as_deref(), Some("bye"));
        assert_eq!(combine(None, "", 100), None);
        assert_eq!(combine(None, "ééé", 3).as_deref(), Some("é"), "cut at a character boundary");
        assert_eq!(per_container_limit(3), 4096);
        assert_eq!(per_container_limit(0), MAX_POD_BYTES);
    }
}
