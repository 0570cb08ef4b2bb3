//! The record writer: pod records are replaced in the background, off the
//! pods' paths, by one thread per state directory opened (a
//! [`RecordWriter`], owned by the `StateDir` and every `PodDir` made from
//! it, so by the `Runtime` and its pods; the last one dropped writes
//! everything durably and ends the thread).
//!
//! Status changes come in bursts (a pod starting changes its record three
//! times within a millisecond) and each crash-safe replacement costs an
//! fsync, which also stalls every other file creation on the disk while
//! the journal commits. So the writer thread does two things per file:
//! after [`GATHER`] it replaces the file without an fsync (atomic for
//! readers and safe against the process dying: a status is on disk within
//! milliseconds, and a pod's start-up burst is one replacement, made after
//! its guest runs rather than beside it), and once no change came for
//! [`SETTLE`] it rewrites the file with [`write_atomic`] (fsync: safe
//! against a power loss; when the file already holds those contents, put
//! there by the pod or by the replacement, it is fsynced where it is).
//! Submissions coalesce per file: the latest contents win, and a burst
//! costs one fsync. A pod's last record is put in place at once
//! (`PodDir::write_record`, through [`RecordWriter::replace_now`], after
//! any write of that file the thread has under way);
//! [`RecordWriter::flush_all`] (called by `Runtime::settle`, and on drop)
//! waits for every durable rewrite. A crash at any moment leaves a complete record, never a torn one.

use std::collections::{HashMap, HashSet, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::atomic::{replace, write_atomic};

/// How long a submission waits for later ones to coalesce with before the
/// durable (fsynced) rewrite.
pub(crate) const SETTLE: Duration = Duration::from_millis(100);
/// How long a submission waits before the file is replaced (no fsync).
pub(crate) const GATHER: Duration = Duration::from_millis(5);

#[derive(Default)]
struct State {
    /// The newest contents not yet written durably, per file.
    pending: HashMap<PathBuf, Arc<[u8]>>,
    /// Files whose pending contents are already in place (put there by the
    /// pod, or by a replacement here): their durable write is an fsync of
    /// the file as it is, not another copy.
    in_place: HashSet<PathBuf>,
    /// Files whose newest contents are not in place yet at all, with when
    /// the first of those contents came.
    fresh: VecDeque<(PathBuf, Instant)>,
    /// The files in `fresh`.
    in_fresh: HashSet<PathBuf>,
    /// Files with pending contents, oldest submission first, with when
    /// that submission came.
    queue: VecDeque<(PathBuf, Instant)>,
    /// Files someone waits for ([`RecordWriter::flush`]): written without settling.
    urgent: VecDeque<PathBuf>,
    /// The file being written now.
    busy: Option<PathBuf>,
    /// The last failure per file, until [`RecordWriter::flush`] reports it.
    failed: HashMap<PathBuf, std::io::Error>,
    /// The last handle is gone: end once nothing is pending.
    stop: bool,
}

struct Writer {
    state: Mutex<State>,
    /// Signalled when work is queued.
    work: Condvar,
    /// Signalled after each write.
    written: Condvar,
}

impl Writer {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn serve(&self) {
        let mut state = self.lock();
        loop {
            if state.stop && state.pending.is_empty() {
                return;
            }
            let path = if let Some(path) = state.urgent.pop_front() {
                path
            } else if let Some(wait) = state.fresh.front().map(|(_, since)| GATHER.saturating_sub(since.elapsed())) {
                if !wait.is_zero() {
                    state = self.work.wait_timeout(state, wait).unwrap_or_else(|p| p.into_inner()).0;
                    continue;
                }
                let Some((path, _)) = state.fresh.pop_front() else { continue };
                // Gone from the set: written durably or put in place since.
                if !state.in_fresh.remove(&path) {
                    continue;
                }
                // In place now; the durable rewrite stays queued.
                let Some(bytes) = state.pending.get(&path).cloned() else { continue };
                state.busy = Some(path.clone());
                drop(state);
                let result = replace(&path, &bytes, false);
                state = self.lock();
                state.busy = None;
                match result {
                    // Unless newer contents came meanwhile.
                    Ok(()) if state.pending.get(&path).is_some_and(|p| Arc::ptr_eq(p, &bytes)) => {
                        state.in_place.insert(path);
                    }
                    Ok(()) => {}
                    Err(e) => {
                        state.failed.insert(path, e);
                    }
                }
                self.written.notify_all();
                continue;
            } else {
                match state.queue.front() {
                    None => {
                        state = self.work.wait(state).unwrap_or_else(|p| p.into_inner());
                        continue;
                    }
                    Some((_, since)) if since.elapsed() < SETTLE => {
                        // The clock moved since the guard: saturate.
                        let left = SETTLE.saturating_sub(since.elapsed()).max(Duration::from_millis(1));
                        state = self.work.wait_timeout(state, left).unwrap_or_else(|p| p.into_inner()).0;
                        continue;
                    }
                    Some(_) => match state.queue.pop_front() {
                        Some((p, _)) => p,
                        None => continue,
                    },
                }
            };
            // Already written (through the other queue), or forgotten.
            let Some(bytes) = state.pending.remove(&path) else { continue };
            let in_place = state.in_place.remove(&path);
            state.in_fresh.remove(&path);
            state.busy = Some(path.clone());
            drop(state);
            // Opened for writing: Windows flushes only a handle with write access.
            let result = if in_place { std::fs::OpenOptions::new().write(true).open(&path).and_then(|f| f.sync_all()) } else { write_atomic(&path, &bytes) };
            state = self.lock();
            state.busy = None;
            match result {
                Ok(()) => {
                    state.failed.remove(&path);
                }
                Err(e) => {
                    state.failed.insert(path, e);
                }
            }
            self.written.notify_all();
        }
    }

    /// Waits until `path` has nothing pending and is not being written.
    #[cfg(test)]
    fn settle<'a>(&self, mut state: MutexGuard<'a, State>, path: &Path) -> MutexGuard<'a, State> {
        while state.pending.contains_key(path) || state.busy.as_deref() == Some(path) {
            state = self.written.wait(state).unwrap_or_else(|p| p.into_inner());
        }
        state
    }
}

/// The record writer of one state directory. Its thread starts with the
/// first submission; dropping the writer writes everything submitted
/// durably and ends the thread.
#[derive(Default)]
pub(crate) struct RecordWriter {
    inner: Arc<Writer>,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl Default for Writer {
    fn default() -> Self {
        Self { state: Mutex::default(), work: Condvar::new(), written: Condvar::new() }
    }
}

impl std::fmt::Debug for RecordWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecordWriter").field("pending", &self.inner.lock().pending.len()).finish()
    }
}

impl RecordWriter {
    /// The writer's state, its thread started if it was not.
    fn started(&self) -> &Writer {
        let mut thread = self.thread.lock().unwrap_or_else(|p| p.into_inner());
        if thread.is_none() {
            let w = self.inner.clone();
            *thread = Some(std::thread::Builder::new().name("wasmpod-records".into()).spawn(move || w.serve()).expect("cannot start the record writer thread"));
        }
        &self.inner
    }

    /// Queues `bytes` as the new contents of `path`, replacing anything queued
    /// for it before.
    pub(crate) fn submit(&self, path: &Path, bytes: Vec<u8>) {
        self.queue(path, bytes, false);
    }

    /// Puts `bytes` in place at `path` now (no fsync) and queues their
    /// durable write, replacing anything queued for it before. The
    /// replacement happens under the writer's lock, after any write of
    /// `path` in progress: an older submission the thread was writing
    /// cannot land over it.
    pub(crate) fn replace_now(&self, path: &Path, bytes: Vec<u8>) -> std::io::Result<()> {
        let w = self.started();
        let mut state = w.lock();
        while state.busy.as_deref() == Some(path) {
            state = w.written.wait(state).unwrap_or_else(|p| p.into_inner());
        }
        replace(path, &bytes, false)?;
        Self::queue_locked(&mut state, path, bytes, true);
        drop(state);
        w.work.notify_one();
        Ok(())
    }

    fn queue(&self, path: &Path, bytes: Vec<u8>, in_place: bool) {
        let w = self.started();
        let mut state = w.lock();
        Self::queue_locked(&mut state, path, bytes, in_place);
        drop(state);
        w.work.notify_one();
    }

    fn queue_locked(state: &mut State, path: &Path, bytes: Vec<u8>, in_place: bool) {
        if state.pending.insert(path.to_owned(), Arc::from(bytes)).is_none() {
            state.queue.push_back((path.to_owned(), Instant::now()));
        }
        if in_place {
            state.in_place.insert(path.to_owned());
            state.in_fresh.remove(path);
        } else {
            state.in_place.remove(path);
            if state.in_fresh.insert(path.to_owned()) {
                state.fresh.push_back((path.to_owned(), Instant::now()));
            }
        }
    }

    /// Waits until everything submitted for `path` is on disk; reports the
    /// last failure to write it, if any since the previous flush.
    #[cfg(test)]
    pub(crate) fn flush(&self, path: &Path) -> std::io::Result<()> {
        let w = self.started();
        let mut state = w.lock();
        if state.pending.contains_key(path) {
            state.urgent.push_back(path.to_owned());
            w.work.notify_one();
        }
        state = w.settle(state, path);
        match state.failed.remove(path) {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// Waits until every submitted record is on disk, durably.
    pub(crate) fn flush_all(&self) {
        let w = &self.inner;
        let mut state = w.lock();
        if state.pending.is_empty() && state.busy.is_none() {
            return;
        }
        let paths: Vec<PathBuf> = state.pending.keys().cloned().collect();
        state.urgent.extend(paths);
        w.work.notify_one();
        while !state.pending.is_empty() || state.busy.is_some() {
            state = w.written.wait(state).unwrap_or_else(|p| p.into_inner());
        }
    }

    /// Drops anything queued for files under `dir` and waits for a write in
    /// progress there to end: the directory is about to be removed, and a late
    /// write must not recreate it.
    pub(crate) fn forget(&self, dir: &Path) {
        let w = &self.inner;
        let mut state = w.lock();
        state.pending.retain(|p, _| !p.starts_with(dir));
        state.queue.retain(|(p, _)| !p.starts_with(dir));
        state.urgent.retain(|p| !p.starts_with(dir));
        state.fresh.retain(|(p, _)| !p.starts_with(dir));
        state.in_fresh.retain(|p| !p.starts_with(dir));
        state.in_place.retain(|p| !p.starts_with(dir));
        state.failed.retain(|p, _| !p.starts_with(dir));
        while state.busy.as_deref().is_some_and(|b| b.starts_with(dir)) {
            state = w.written.wait(state).unwrap_or_else(|p| p.into_inner());
        }
    }
}

impl Drop for RecordWriter {
    /// Writes everything submitted durably, then ends the thread.
    fn drop(&mut self) {
        let Some(thread) = self.thread.get_mut().unwrap_or_else(|p| p.into_inner()).take() else { return };
        self.flush_all();
        self.inner.lock().stop = true;
        self.inner.work.notify_one();
        let _ = thread.join();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_latest_submission_wins_and_flush_waits_for_it() {
        let dir = tempfile::tempdir().unwrap();
        let w = RecordWriter::default();
        let path = dir.path().join("pod.json");
        for i in 0..100 {
            w.submit(&path, format!("version {i}").into_bytes());
        }
        w.flush(&path).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "version 99");
    }

    #[test]
    fn a_submission_is_in_place_at_once_and_durable_after_settling() {
        let dir = tempfile::tempdir().unwrap();
        let w = RecordWriter::default();
        let path = dir.path().join("pod.json");
        let pending = |p: &Path| w.inner.lock().pending.contains_key(p);
        let t0 = Instant::now();
        w.submit(&path, b"first".to_vec());
        while !path.exists() {
            assert!(t0.elapsed() < Duration::from_secs(30), "never put in place");
            std::thread::sleep(Duration::from_millis(1));
        }
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "first");
        // The durable rewrite waits for the changes to settle.
        if t0.elapsed() < SETTLE {
            assert!(pending(&path), "rewritten durably before settling");
        }
        while pending(&path) {
            assert!(t0.elapsed() < Duration::from_secs(30), "never written durably");
            std::thread::sleep(Duration::from_millis(5));
        }
        assert!(t0.elapsed() >= SETTLE, "durable after {:?}, before settling", t0.elapsed());
    }

    #[test]
    fn contents_already_in_place_are_synced_not_copied_again() {
        let dir = tempfile::tempdir().unwrap();
        let w = RecordWriter::default();
        let path = dir.path().join("pod.json");
        let inode = |p: &Path| {
            #[cfg(unix)]
            {
                use std::os::unix::fs::MetadataExt;
                Some(std::fs::metadata(p).unwrap().ino())
            }
            #[cfg(not(unix))]
            {
                let _ = p;
                None::<u64>
            }
        };
        w.replace_now(&path, b"placed".to_vec()).unwrap();
        let before = inode(&path);
        w.flush(&path).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "placed");
        assert_eq!(inode(&path), before, "the file was synced where it is, not replaced");
        // Contents submitted later are written (a new file), in place or not.
        w.submit(&path, b"newer".to_vec());
        w.flush(&path).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "newer");
    }

    /// The thread may be putting an older submission in place when the pod
    /// puts its last record there itself; the last record must win.
    #[test]
    fn contents_put_in_place_are_not_overwritten_by_an_older_submission_under_way() {
        let dir = tempfile::tempdir().unwrap();
        let w = RecordWriter::default();
        let path = dir.path().join("pod.json");
        for i in 0..300u64 {
            w.submit(&path, format!("older {i}").into_bytes());
            // Around the moment the thread writes the submission (GATHER).
            std::thread::sleep(GATHER - Duration::from_micros(1500) + Duration::from_micros(i * 10));
            let last = format!("last {i}");
            w.replace_now(&path, last.clone().into_bytes()).unwrap();
            w.flush(&path).unwrap();
            assert_eq!(std::fs::read_to_string(&path).unwrap(), last);
        }
    }

    #[test]
    fn a_failed_write_is_reported_by_flush_once() {
        let dir = tempfile::tempdir().unwrap();
        let w = RecordWriter::default();
        // A directory where the file should go: the rename fails.
        let path = dir.path().join("taken");
        std::fs::create_dir_all(path.join("inside")).unwrap();
        w.submit(&path, b"x".to_vec());
        assert!(w.flush(&path).is_err());
        assert!(w.flush(&path).is_ok(), "reported once");
    }

    #[test]
    fn forgotten_writes_do_not_recreate_a_removed_directory() {
        let dir = tempfile::tempdir().unwrap();
        let w = RecordWriter::default();
        let pod = dir.path().join("pods/default/p");
        for i in 0..50 {
            w.submit(&pod.join("pod.json"), format!("{i}").into_bytes());
        }
        w.forget(&pod);
        let _ = std::fs::remove_dir_all(&pod);
        // Anything still queued elsewhere is written; nothing for `pod`.
        let other = dir.path().join("other.json");
        w.submit(&other, b"o".to_vec());
        w.flush(&other).unwrap();
        assert!(!pod.exists());
    }

    #[test]
    fn dropping_the_writer_writes_everything_durably_and_ends_its_thread() {
        let dir = tempfile::tempdir().unwrap();
        let w = RecordWriter::default();
        for i in 0..20 {
            w.submit(&dir.path().join(format!("{i}.json")), format!("{i}").into_bytes());
        }
        let inner = w.inner.clone();
        drop(w);
        for i in 0..20 {
            assert_eq!(std::fs::read_to_string(dir.path().join(format!("{i}.json"))).unwrap(), format!("{i}"));
        }
        assert!(inner.lock().pending.is_empty());
        assert_eq!(Arc::strong_count(&inner), 1, "the thread ended and let go of the writer");
    }
}
