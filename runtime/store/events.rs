//! The pod's event log: core/v1 Events appended one JSON object per line.
//!
//! A repeated event (same reason and message) is appended again with its
//! `count` and `lastTimestamp` bumped and the same `metadata.name`; readers
//! keep the last line per name, as `kubectl describe` shows `x3 over 31s`.

use std::io::Write;
use std::path::PathBuf;

use k8s_openapi::api::core::v1::Event;

use super::{StoreError, io_err};

/// Append-only event file of one pod.
#[derive(Debug, Clone)]
pub struct EventLog {
    path: PathBuf,
}

impl EventLog {
    pub(super) fn new(path: PathBuf) -> Self {
        Self { path }
    }

    /// Appends one event.
    pub fn append(&self, event: &Event) -> Result<(), StoreError> {
        let mut line = serde_json::to_vec(event).expect("an Event always serializes");
        line.push(b'\n');
        let mut f = std::fs::OpenOptions::new().create(true).append(true).open(&self.path).map_err(io_err("cannot open", &self.path))?;
        f.write_all(&line).map_err(io_err("cannot append to", &self.path))
    }

    /// All events in order of first appearance, the latest version of each.
    pub fn read(&self) -> Result<Vec<Event>, StoreError> {
        let text = match std::fs::read_to_string(&self.path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(StoreError::Io { action: "cannot read", path: self.path.clone(), source: e }),
        };
        let mut out: Vec<Event> = Vec::new();
        // A torn last line (crash mid-append) fails to parse and is skipped.
        for ev in text.lines().filter_map(|l| serde_json::from_str::<Event>(l).ok()) {
            match out.iter_mut().find(|e| e.metadata.name == ev.metadata.name) {
                Some(slot) => *slot = ev,
                None => out.push(ev),
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    fn ev(name: &str, count: i32) -> Event {
        Event { metadata: ObjectMeta { name: Some(name.into()), ..Default::default() }, count: Some(count), ..Default::default() }
    }

    #[test]
    fn keeps_latest_version_per_name_and_skips_a_torn_line() {
        let dir = tempfile::tempdir().unwrap();
        let log = EventLog::new(dir.path().join("events.jsonl"));
        log.append(&ev("a", 1)).unwrap();
        log.append(&ev("b", 1)).unwrap();
        log.append(&ev("a", 2)).unwrap();
        std::fs::OpenOptions::new().append(true).open(dir.path().join("events.jsonl")).unwrap().write_all(b"{\"torn").unwrap();
        let got: Vec<_> = log.read().unwrap().into_iter().map(|e| (e.metadata.name.unwrap(), e.count.unwrap())).collect();
        assert_eq!(got, vec![("a".to_string(), 2), ("b".to_string(), 1)]);
    }
}
