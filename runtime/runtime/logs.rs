//! Reading a container's CRI log as `kubectl logs` shows it: partial
//! records joined into lines, optionally timestamped, the last N lines,
//! and following the file until the container instance ends.
//!
//! An instance's log is its current file plus the files rotated from it
//! (store/logs.rs); they are read oldest first, and a reader whose file is
//! rotated away finishes it, then goes on to the newer files.

use std::io::Read;
use std::path::PathBuf;
use std::time::Duration;

use k8s_openapi::api::core::v1::{ContainerStatus, Pod};

use super::Error;
use super::view::PodView;
use crate::store::Stream;

/// How often a followed log is checked for new lines. The log is a file
/// any process of the state directory may be writing; 100 ms keeps
/// `logs -f` feeling live at the cost of one `read` per tick.
const FOLLOW_POLL: Duration = Duration::from_millis(100);

/// The query of `GET .../pods/{name}/log`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct LogOptions {
    /// The container; may be omitted when the pod has exactly one.
    pub container: Option<String>,
    /// The previous instance's log instead of the current one.
    pub previous: bool,
    /// Keep streaming until the container instance ends.
    pub follow: bool,
    /// Prefix each line with its RFC3339Nano timestamp.
    pub timestamps: bool,
    /// Only the last N lines.
    pub tail_lines: Option<i64>,
}

impl LogOptions {
    /// The log of `container` (none: the pod's only one).
    pub fn container(mut self, container: Option<String>) -> Self {
        self.container = container;
        self
    }

    /// The previous instance's log.
    pub fn previous(mut self, previous: bool) -> Self {
        self.previous = previous;
        self
    }

    /// Keep streaming until the instance ends.
    pub fn follow(mut self, follow: bool) -> Self {
        self.follow = follow;
        self
    }

    /// Timestamps before each line.
    pub fn timestamps(mut self, timestamps: bool) -> Self {
        self.timestamps = timestamps;
        self
    }

    /// Only the last `lines` lines.
    pub fn tail_lines(mut self, lines: Option<i64>) -> Self {
        self.tail_lines = lines;
        self
    }
}

/// A container's log, line by line. See [`crate::Runtime::logs`].
pub struct LogStream {
    view: PodView,
    namespace: String,
    name: String,
    container: String,
    instance: i32,
    file: Option<std::fs::File>,
    path: PathBuf,
    /// Bytes read but not yet ending in a newline.
    partial: Vec<u8>,
    /// A line split into P records, waiting for its F record.
    joined: Vec<u8>,
    ready: std::collections::VecDeque<(Stream, Vec<u8>)>,
    timestamps: bool,
    follow: bool,
    done: bool,
    /// The rotation number (`<n>.log.<seq>`) of the newest rotated file
    /// read to its end (or the one ours became): files at or below it are
    /// never read again.
    read_seq: Option<u64>,
    /// The new current file could not be opened after a rotation (Windows
    /// refuses it while the writer is creating it): the next read catches
    /// up from `read_seq`.
    pending: bool,
}

/// The container the log request names: `container`, or the only one.
fn pick_container<'a>(pod: &'a Pod, requested: Option<&str>) -> Result<&'a str, Error> {
    let name = pod.metadata.name.as_deref().unwrap_or_default();
    let spec = pod.spec.as_ref();
    let app: Vec<&str> = spec.map(|s| s.containers.iter().map(|c| c.name.as_str()).collect()).unwrap_or_default();
    let init: Vec<&str> = spec.and_then(|s| s.init_containers.as_ref()).map(|cs| cs.iter().map(|c| c.name.as_str()).collect()).unwrap_or_default();
    match requested {
        Some(c) => {
            app.iter().chain(init.iter()).find(|n| **n == c).copied().ok_or_else(|| Error::BadRequest(format!("container {c} is not valid for pod {name}")))
        }
        None if app.len() == 1 => Ok(app[0]),
        None => {
            let mut msg = format!("a container name must be specified for pod {name}, choose one of: [{}]", app.join(" "));
            if !init.is_empty() {
                msg.push_str(&format!(" or one of the init containers: [{}]", init.join(" ")));
            }
            Err(Error::BadRequest(msg))
        }
    }
}

fn container_status<'a>(pod: &'a Pod, container: &str) -> Option<&'a ContainerStatus> {
    let st = pod.status.as_ref()?;
    st.container_statuses.iter().flatten().chain(st.init_container_statuses.iter().flatten()).find(|c| c.name == container)
}

impl LogStream {
    pub(crate) fn open(view: PodView, namespace: &str, name: &str, options: &LogOptions) -> Result<Self, Error> {
        let pod = view.get(namespace, name)?;
        let container = pick_container(&pod, options.container.as_deref())?.to_owned();
        let status = container_status(&pod, &container);
        let restarts = status.map(|s| s.restart_count).unwrap_or(0);
        let instance = if options.previous {
            let had = status.and_then(|s| s.last_state.as_ref()).is_some_and(|l| l.terminated.is_some());
            if !had || restarts == 0 {
                return Err(Error::BadRequest(format!("previous terminated container \"{container}\" in pod \"{name}\" not found")));
            }
            restarts - 1
        } else {
            restarts
        };
        let path = view.state.pod(namespace, name).log_path(&container, instance);
        let file = match std::fs::File::open(&path) {
            Ok(f) => f,
            Err(_) => {
                // Kubernetes' answer for a container with no log yet.
                let reason = status
                    .and_then(|s| s.state.as_ref())
                    .and_then(|s| s.waiting.as_ref())
                    .and_then(|w| w.reason.clone())
                    .unwrap_or_else(|| "ContainerCreating".into());
                return Err(Error::BadRequest(format!("container \"{container}\" in pod \"{name}\" is waiting to start: {reason}")));
            }
        };
        let mut stream = Self {
            view,
            namespace: namespace.to_owned(),
            name: name.to_owned(),
            container,
            instance,
            file: Some(file),
            path,
            partial: Vec::new(),
            joined: Vec::new(),
            ready: Default::default(),
            timestamps: options.timestamps,
            follow: options.follow && !options.previous,
            done: false,
            read_seq: None,
            pending: false,
        };
        // The rotated files older than the one just opened come first.
        let opened = stream.file.as_ref().and_then(file_id);
        let rotated = crate::store::rotated_files(&stream.path);
        let older = rotated.iter().position(|(_, p)| opened.is_some() && path_id(p) == opened).unwrap_or(rotated.len());
        for (seq, p) in &rotated[..older] {
            if let Ok(bytes) = std::fs::read(p) {
                stream.feed(&bytes);
            }
            stream.read_seq = Some(*seq);
        }
        stream.read_available();
        if let Some(n) = options.tail_lines {
            let keep = usize::try_from(n.max(0)).unwrap_or(usize::MAX);
            while stream.ready.len() > keep {
                stream.ready.pop_front();
            }
        }
        Ok(stream)
    }

    /// The container whose log this is (the defaulted one when none was named).
    pub fn container(&self) -> &str {
        &self.container
    }

    /// The next line, newline included; `None` at the end (for a followed
    /// log: once the container instance ended and its last line was read).
    pub async fn next_line(&mut self) -> Option<Vec<u8>> {
        self.next_entry().await.map(|(_, line)| line)
    }

    /// [`LogStream::next_line`] with the stream that wrote it.
    pub async fn next_entry(&mut self) -> Option<(Stream, Vec<u8>)> {
        loop {
            if let Some(l) = self.ready.pop_front() {
                return Some(l);
            }
            if self.done || !self.follow {
                return None;
            }
            // Check before reading: a line written just before the
            // container ended is read by the read that follows.
            let ended = self.instance_ended();
            self.read_available();
            if ended {
                self.done = true;
                continue;
            }
            if self.ready.is_empty() {
                tokio::time::sleep(FOLLOW_POLL).await;
            }
        }
    }

    fn instance_ended(&self) -> bool {
        let Ok(pod) = self.view.get(&self.namespace, &self.name) else { return true };
        let phase_ended = pod.status.as_ref().and_then(|s| s.phase.as_deref()).is_some_and(|p| matches!(p, "Succeeded" | "Failed" | "Unknown"));
        match container_status(&pod, &self.container) {
            None => true,
            Some(s) => phase_ended || s.restart_count != self.instance || s.state.as_ref().is_none_or(|st| st.running.is_none()),
        }
    }

    /// Reads what was appended since the last read and turns complete
    /// records into lines; when the file was rotated away, goes on to the
    /// newer rotated files and the new current one.
    fn read_available(&mut self) {
        // Each pass moves to a newer file; the bound only keeps a guest
        // that rotates faster than we read from holding this reader.
        for _ in 0..64 {
            let ours = match (self.file.take(), self.pending) {
                (Some(mut file), _) => {
                    let mut buf = Vec::new();
                    if file.read_to_end(&mut buf).is_err() {
                        // The file was removed (pod deleted): what was read stands.
                        return;
                    }
                    self.feed(&buf);
                    let ours = file_id(&file);
                    let current = path_id(&self.path);
                    // A rotation renames our file to the next number: without
                    // a rotated file newer than all read, a differing
                    // identity is not one (wine's identities can differ for
                    // one file).
                    let rotated_since = crate::store::rotated_files(&self.path).iter().any(|(q, _)| self.read_seq.is_none_or(|s| *q > s));
                    if ours.is_none() || current.is_none() || ours == current || !rotated_since {
                        // Not rotated (or the new file is not there yet: the next
                        // read sees it).
                        self.file = Some(file);
                        return;
                    }
                    ours
                }
                // The new current file could not be opened last time: ours
                // was read to its end then.
                (None, true) => None,
                (None, false) => return,
            };
            let caught_up = std::mem::take(&mut self.pending);
            // Writes to our file ended with the rename, and all of it was
            // read above. Open the new current file before listing, so a
            // rotation in between shows up as a rotated file we read.
            let next = std::fs::File::open(&self.path).ok();
            let next_id = next.as_ref().and_then(file_id);
            let rotated = crate::store::rotated_files(&self.path);
            let ids: Vec<_> = rotated.iter().map(|(_, p)| path_id(p)).collect();
            // Where to go on: after ours (found by its identity), and after
            // every file already read (by rotation number, which Windows
            // gives even when it refuses to open a file for its identity).
            // Ours may already be removed as the oldest: then every rotated
            // file left is newer.
            // Ours by its identity, else by number: the rotation that
            // ended our file gave it the number after the last one read
            // (numbers start at 1), as rotations number files one by one.
            // (Catching up after a failed open, ours was accounted then.)
            let by_id = ours.and_then(|o| ids.iter().position(|id| *id == Some(o)));
            let ours_seq = match by_id {
                Some(i) => Some(rotated[i].0),
                None if caught_up => None,
                None => Some(self.read_seq.map_or(1, |s| s + 1)),
            };
            if let Some(o) = ours_seq {
                self.read_seq = Some(self.read_seq.map_or(o, |s| s.max(o)));
            }
            let from = rotated.iter().position(|(q, _)| Some(*q) > self.read_seq).unwrap_or(rotated.len());
            let to = ids.iter().position(|id| id.is_some() && *id == next_id).unwrap_or(rotated.len()).max(from);
            for (seq, p) in &rotated[from..to] {
                if let Ok(bytes) = std::fs::read(p) {
                    self.feed(&bytes);
                }
                self.read_seq = Some(*seq);
            }
            let Some(next) = next else {
                // Try again at the next poll, from what was read.
                self.pending = true;
                return;
            };
            self.file = Some(next);
        }
    }

    /// Turns the complete records of `buf` (after what was left of the
    /// last read) into lines.
    fn feed(&mut self, buf: &[u8]) {
        self.partial.extend_from_slice(buf);
        while let Some(nl) = self.partial.iter().position(|&b| b == b'\n') {
            let record: Vec<u8> = self.partial.drain(..=nl).collect();
            self.record(&record[..record.len() - 1]);
        }
    }

    /// One CRI record: `<timestamp> <stream> <P|F> <text>`.
    fn record(&mut self, rec: &[u8]) {
        let mut parts = rec.splitn(4, |&b| b == b' ');
        let (Some(ts), Some(stream), Some(tag)) = (parts.next(), parts.next(), parts.next()) else { return };
        let stream = if stream == b"stderr" { Stream::Stderr } else { Stream::Stdout };
        let text = parts.next().unwrap_or_default();
        if self.joined.is_empty() && self.timestamps {
            self.joined.extend_from_slice(ts);
            self.joined.push(b' ');
        }
        self.joined.extend_from_slice(text);
        if tag == b"F" {
            let mut line = std::mem::take(&mut self.joined);
            line.push(b'\n');
            self.ready.push_back((stream, line));
        }
    }

    /// The current log file of the instance.
    pub fn path(&self) -> &std::path::Path {
        &self.path
    }
}

/// What identifies a file across renames: device and inode, or volume
/// serial and file index on Windows (`crate::volume::file_id`).
#[cfg(unix)]
fn file_id(file: &std::fs::File) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    file.metadata().ok().map(|m| (m.dev(), m.ino()))
}

#[cfg(not(unix))]
fn file_id(file: &std::fs::File) -> Option<(u64, u64)> {
    crate::volume::file_id(file)
}

#[cfg(unix)]
fn path_id(path: &std::path::Path) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path).ok().map(|m| (m.dev(), m.ino()))
}

/// Metadata from a path has no file index here: a handle is needed (opened
/// with every sharing flag, so a writer may still rename or remove it).
#[cfg(not(unix))]
fn path_id(path: &std::path::Path) -> Option<(u64, u64)> {
    file_id(&std::fs::File::open(path).ok()?)
}

impl super::Runtime {
    /// A container's log, as `kubectl logs` asks for it.
    pub fn logs(&self, namespace: &str, name: &str, options: &LogOptions) -> Result<LogStream, Error> {
        LogStream::open(self.view(), namespace, name, options)
    }
}
