//! Container logs in the CRI format the kubelet reads:
//! `<RFC3339Nano timestamp> <stdout|stderr> <F|P> <text>`.
//!
//! Each complete line is appended as one `F` record as soon as the guest
//! writes its newline, so a crash of the runtime loses at most a line the
//! guest had not finished. A line longer than [`MAX_LINE`] is split into
//! `P` (partial) records followed by a final `F`, as containerd does.
//!
//! The log rotates as the kubelet's does (`containerLogMaxSize`,
//! `containerLogMaxFiles`): when the next record would take the current
//! file past the size, the file is renamed `<n>.log.<seq>` and a new one
//! started; of the current file plus the rotated ones at most `max_files`
//! are kept, the oldest removed. A guest printing forever therefore holds
//! at most `max_size * max_files` bytes of disk (plus one record).

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use super::{StoreError, io_err};

/// Longest log record before a line is split into partial records. 16 KiB
/// is containerd's buffer size, so logs read the same as on a real node.
pub const MAX_LINE: usize = 16 * 1024;

/// How container logs rotate (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct LogRotation {
    /// A file is rotated before a record would take it past this many
    /// bytes (`containerLogMaxSize`; default 10 MiB, the kubelet's).
    pub max_size: u64,
    /// Files kept per container instance, the current one included
    /// (`containerLogMaxFiles`; default 5; at least 2, as the kubelet
    /// requires, so the lines just rotated away stay readable).
    pub max_files: usize,
}

impl LogRotation {
    /// Rotation at `max_size` bytes, keeping `max_files` files.
    pub fn new(max_size: u64, max_files: usize) -> Self {
        Self { max_size, max_files }
    }
}

impl Default for LogRotation {
    fn default() -> Self {
        Self { max_size: 10 * 1024 * 1024, max_files: 5 }
    }
}

/// The rotated files of the log at `path` (`<path>.<seq>`), oldest first.
pub fn rotated_files(path: &Path) -> Vec<(u64, PathBuf)> {
    let (Some(dir), Some(name)) = (path.parent(), path.file_name().and_then(|n| n.to_str())) else { return Vec::new() };
    let prefix = format!("{name}.");
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    let mut out: Vec<(u64, PathBuf)> = entries
        .flatten()
        .filter_map(|e| {
            let file = e.file_name();
            let seq = file.to_str()?.strip_prefix(&prefix)?.parse::<u64>().ok()?;
            Some((seq, e.path()))
        })
        .collect();
    out.sort();
    out
}

/// Removes the log at `path` with its rotated files.
pub fn remove_log(path: &Path) {
    for (_, p) in rotated_files(path) {
        let _ = std::fs::remove_file(p);
    }
    let _ = std::fs::remove_file(path);
}

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
    /// Opened at the first record: a container that never prints (a
    /// sleeping sidecar among thousands) holds no file descriptor.
    file: Option<File>,
    path: PathBuf,
    rotation: LogRotation,
    /// Bytes in the current file.
    size: u64,
    /// The number the next rotated file gets: one past the newest.
    next_seq: u64,
    // Unterminated text per stream, waiting for its newline.
    pending: [Vec<u8>; 2],
}

impl ContainerLog {
    /// Creates (truncating) the log file at `path`, rotated as `rotation` says.
    /// Rotated files an earlier instance with the same number left are removed.
    pub fn create(path: &Path, pod: &str, container: &str, tap: Option<Arc<dyn LogTap>>, rotation: LogRotation) -> Result<Self, StoreError> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(io_err("cannot create", dir))?;
        }
        // Stale rotated files would read as the start of this log.
        remove_log(path);
        // Created now, so readers find an empty log, and opened again for
        // appending only when there is something to write.
        File::create(path).map_err(io_err("cannot create", path))?;
        let rotation = LogRotation { max_size: rotation.max_size.max(1), max_files: rotation.max_files.max(2) };
        Ok(Self {
            pod: pod.to_owned(),
            container: container.to_owned(),
            tap,
            inner: Mutex::new(Inner { file: None, path: path.to_owned(), rotation, size: 0, next_seq: 1, pending: [Vec::new(), Vec::new()] }),
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
            self.emit(&mut inner, stream, 'P', &chunk);
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
            return self.emit(inner, stream, 'F', b"");
        }
        while let Some(chunk) = chunks.next() {
            let tag = if chunks.peek().is_some() { 'P' } else { 'F' };
            self.emit(inner, stream, tag, chunk);
        }
    }

    /// One record to the file, and its text to the tap (each partial
    /// record too, so the terminal shows a long line whole, in pieces).
    fn emit(&self, inner: &mut Inner, stream: Stream, tag: char, text: &[u8]) {
        let mut rec = Vec::with_capacity(text.len() + 48);
        let _ = write!(rec, "{} {} {} ", rfc3339_nano_now(), stream.as_str(), tag);
        rec.extend_from_slice(text);
        rec.push(b'\n');
        // Rotate before the record rather than after, so a file passes the
        // size only when one record alone is larger; an empty file takes
        // any record, or an oversized one would rotate forever.
        if inner.size > 0 && inner.size + rec.len() as u64 > inner.rotation.max_size {
            inner.rotate();
        }
        // A full disk must not kill the guest; the line is lost, as the
        // kubelet would lose it.
        if inner.file.is_none() {
            inner.file = std::fs::OpenOptions::new().create(true).append(true).open(&inner.path).ok();
        }
        if inner.file.as_mut().is_some_and(|f| f.write_all(&rec).is_ok()) {
            inner.size += rec.len() as u64;
        }
        if let Some(tap) = &self.tap {
            tap.line(&self.pod, &self.container, stream, &String::from_utf8_lossy(text));
        }
    }
}

impl Inner {
    /// Renames the current file to the next rotated name, removes the
    /// oldest rotated files over the count, and starts a new one: in that
    /// order, so there are never more than max files on disk, even for a
    /// moment. Readers holding the old file keep reading it under its new
    /// name and then go on to the newer files (api/logs.rs).
    fn rotate(&mut self) {
        let rotated = PathBuf::from(format!("{}.{}", self.path.display(), self.next_seq));
        if std::fs::rename(&self.path, &rotated).is_err() {
            // Keep appending: losing the size bound beats losing lines.
            return;
        }
        self.next_seq += 1;
        let rotated = rotated_files(&self.path);
        let keep = self.rotation.max_files - 1;
        for (_, old) in rotated.iter().take(rotated.len().saturating_sub(keep)) {
            let _ = std::fs::remove_file(old);
        }
        // On failure the renamed file's handle still works; the next record
        // retries.
        if let Ok(f) = File::create(&self.path) {
            self.file = Some(f);
            self.size = 0;
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
        let log = ContainerLog::create(&path, "default/p", "c", Some(tap.clone()), LogRotation::default()).unwrap();
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
        let log = ContainerLog::create(&path, "default/p", "c", None, LogRotation::default()).unwrap();
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

    #[test]
    fn rotates_keeping_at_most_max_files_of_at_most_max_size() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("0.log");
        let rotation = LogRotation { max_size: 1000, max_files: 3 };
        let log = ContainerLog::create(&path, "default/p", "c", None, rotation).unwrap();
        for i in 0..500 {
            log.write(Stream::Stdout, format!("line {i}\n").as_bytes());
        }
        let rotated = rotated_files(&path);
        assert_eq!(rotated.len(), 2, "{rotated:?}");
        // The newest rotated files survive, numbered in order.
        assert!(rotated[0].0 < rotated[1].0);
        let mut all = Vec::new();
        for p in rotated.iter().map(|r| r.1.clone()).chain([path.clone()]) {
            let len = std::fs::metadata(&p).unwrap().len();
            assert!(len <= 1000 && len > 0, "{} is {len} bytes", p.display());
            all.extend(records(&p).into_iter().map(|r| r.2));
        }
        // Read in order, the files hold the newest lines without a gap.
        let first: usize = all[0].strip_prefix("line ").unwrap().parse().unwrap();
        assert!(first > 0, "nothing was removed");
        let expected: Vec<String> = (first..500).map(|i| format!("line {i}")).collect();
        assert_eq!(all, expected);
        // A new instance with the same number starts clean.
        drop(log);
        let _again = ContainerLog::create(&path, "default/p", "c", None, rotation).unwrap();
        assert!(rotated_files(&path).is_empty());
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 0);
    }

    #[test]
    fn a_record_larger_than_the_size_gets_a_file_of_its_own() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("0.log");
        let log = ContainerLog::create(&path, "default/p", "c", None, LogRotation { max_size: 100, max_files: 2 }).unwrap();
        log.write(Stream::Stdout, b"short\n");
        log.write(Stream::Stdout, &[b'y'; 300]);
        log.write(Stream::Stdout, b"\nafter\n");
        let rotated = rotated_files(&path);
        assert_eq!(rotated.len(), 1);
        assert_eq!(records(&rotated[0].1).iter().map(|r| r.2.len()).collect::<Vec<_>>(), [300]);
        assert_eq!(records(&path).into_iter().map(|r| r.2).collect::<Vec<_>>(), ["after"]);
    }
}
