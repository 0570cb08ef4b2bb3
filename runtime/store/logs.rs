//! Container logs in the CRI format the kubelet reads:
//! `<RFC3339Nano timestamp> <stdout|stderr> <F|P> <text>`.
//!
//! Each complete line is appended as one `F` record as soon as the guest
//! writes its newline, so a crash of the runtime loses at most a line the
//! guest had not finished. A line longer than [`MAX_LINE`] is split into
//! `P` (partial) records followed by a final `F`, as containerd does.

use std::fs::File;
use std::io::Write;
use std::path::Path;
use std::sync::{Arc, Mutex};

use super::{StoreError, io_err};

/// Longest log record before a line is split into partial records. 16 KiB
/// is containerd's buffer size, so logs read the same as on a real node.
pub const MAX_LINE: usize = 16 * 1024;

/// Which output stream a line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    /// Standard output.
    Stdout,
    /// Standard error.
    Stderr,
}

impl Stream {
    /// `stdout` or `stderr`, as in the CRI format.
    pub fn as_str(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
        }
    }
}

/// Receives every complete log line and every pod event as it is written
/// (the `run` command prints them on the terminal; an embedder may forward
/// them elsewhere). Called from the runtime's tasks: keep it quick.
pub trait LogTap: Send + Sync {
    /// One line of `pod`'s `container` (pod is `namespace/name`).
    fn line(&self, pod: &str, container: &str, stream: Stream, text: &str);
    /// An event was recorded (or a repeat of one was counted).
    fn event(&self, event: &k8s_openapi::api::core::v1::Event) {
        let _ = event;
    }
}

/// The log of one container instance.
pub struct ContainerLog {
    pod: String,
    container: String,
    tap: Option<Arc<dyn LogTap>>,
    inner: Mutex<Inner>,
}

struct Inner {
    file: File,
    // Unterminated text per stream, waiting for its newline.
    pending: [Vec<u8>; 2],
}

impl ContainerLog {
    /// Creates (truncating) the log file at `path`.
    pub fn create(path: &Path, pod: &str, container: &str, tap: Option<Arc<dyn LogTap>>) -> Result<Self, StoreError> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(io_err("cannot create", dir))?;
        }
        let file = File::create(path).map_err(io_err("cannot create", path))?;
        Ok(Self {
            pod: pod.to_owned(),
            container: container.to_owned(),
            tap,
            inner: Mutex::new(Inner { file, pending: [Vec::new(), Vec::new()] }),
        })
    }

    /// Appends guest output.
    pub fn write(&self, stream: Stream, mut bytes: &[u8]) {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let idx = stream as usize;
        while let Some(nl) = bytes.iter().position(|&b| b == b'\n') {
            let mut line = std::mem::take(&mut inner.pending[idx]);
            line.extend_from_slice(&bytes[..nl]);
            self.emit_line(&mut inner, stream, &line);
            bytes = &bytes[nl + 1..];
        }
        inner.pending[idx].extend_from_slice(bytes);
        // Bound the memory a guest can make us hold: an unterminated line
        // over MAX_LINE is written out as partial records now.
        while inner.pending[idx].len() > MAX_LINE {
            let rest = inner.pending[idx].split_off(MAX_LINE);
            let chunk = std::mem::replace(&mut inner.pending[idx], rest);
            self.emit(&mut inner.file, stream, 'P', &chunk);
        }
    }

    /// Writes a last unterminated line of `stream` (the guest exited).
    pub fn finish(&self, stream: Stream) {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let line = std::mem::take(&mut inner.pending[stream as usize]);
        if !line.is_empty() {
            self.emit_line(&mut inner, stream, &line);
        }
    }

    /// A complete line: `P` records of MAX_LINE bytes, then the final `F`.
    fn emit_line(&self, inner: &mut Inner, stream: Stream, line: &[u8]) {
        let mut chunks = line.chunks(MAX_LINE).peekable();
        if chunks.peek().is_none() {
            return self.emit(&mut inner.file, stream, 'F', b"");
        }
        while let Some(chunk) = chunks.next() {
            let tag = if chunks.peek().is_some() { 'P' } else { 'F' };
            self.emit(&mut inner.file, stream, tag, chunk);
        }
    }

    /// One record to the file, and its text to the tap (each partial
    /// record too, so the terminal shows a long line whole, in pieces).
    fn emit(&self, file: &mut File, stream: Stream, tag: char, text: &[u8]) {
        let mut rec = Vec::with_capacity(text.len() + 48);
        let _ = write!(rec, "{} {} {} ", rfc3339_nano_now(), stream.as_str(), tag);
        rec.extend_from_slice(text);
        rec.push(b'\n');
        // A full disk must not kill the guest; the line is lost, as the
        // kubelet would lose it.
        let _ = file.write_all(&rec);
        if let Some(tap) = &self.tap {
            tap.line(&self.pod, &self.container, stream, &String::from_utf8_lossy(text));
        }
    }
}

/// Now, as Go's RFC3339Nano (UTC, trailing zeros of the fraction trimmed).
pub(crate) fn rfc3339_nano_now() -> String {
    jiff::Timestamp::now().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Collect(Mutex<Vec<String>>);
    impl LogTap for Collect {
        fn line(&self, pod: &str, container: &str, stream: Stream, text: &str) {
            self.0.lock().unwrap().push(format!("{pod}/{container} {} {text}", stream.as_str()));
        }
    }

    fn records(path: &Path) -> Vec<(String, String, String)> {
        std::fs::read_to_string(path)
            .unwrap()
            .lines()
            .map(|l| {
                let mut it = l.splitn(4, ' ');
                let ts = it.next().unwrap();
                assert!(ts.parse::<jiff::Timestamp>().is_ok(), "bad timestamp {ts}");
                assert!(ts.ends_with('Z'));
                (it.next().unwrap().into(), it.next().unwrap().into(), it.next().unwrap_or("").into())
            })
            .collect()
    }

    #[test]
    fn splits_lines_across_writes_and_streams() {
        let dir = tempfile::tempdir().unwrap();
        let tap = Arc::new(Collect(Mutex::new(Vec::new())));
        let path = dir.path().join("c/0.log");
        let log = ContainerLog::create(&path, "default/p", "c", Some(tap.clone())).unwrap();
        log.write(Stream::Stdout, b"hel");
        log.write(Stream::Stderr, b"oops\n");
        log.write(Stream::Stdout, b"lo\nworld\n\ntail");
        log.finish(Stream::Stdout);
        let s = |a: &str, b: &str, c: &str| (a.to_string(), b.to_string(), c.to_string());
        assert_eq!(
            records(&path),
            vec![s("stderr", "F", "oops"), s("stdout", "F", "hello"), s("stdout", "F", "world"), s("stdout", "F", ""), s("stdout", "F", "tail")]
        );
        assert_eq!(tap.0.lock().unwrap()[1], "default/p/c stdout hello");
    }

    #[test]
    fn long_lines_become_partial_records() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("0.log");
        let log = ContainerLog::create(&path, "default/p", "c", None).unwrap();
        let long = vec![b'x'; MAX_LINE * 2 + 5];
        // Split across writes, or complete in one write: the same records.
        log.write(Stream::Stdout, &long);
        log.write(Stream::Stdout, b"\n");
        let mut whole = long.clone();
        whole.push(b'\n');
        log.write(Stream::Stdout, &whole);
        let recs = records(&path);
        let tags: Vec<_> = recs.iter().map(|r| (r.1.as_str(), r.2.len())).collect();
        let one_line = [("P", MAX_LINE), ("P", MAX_LINE), ("F", 5)];
        assert_eq!(tags, [one_line, one_line].concat());
    }
}
