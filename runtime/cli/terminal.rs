//! What `run` prints while pods run: every log line prefixed with its
//! pod/container (stdout lines on stdout, stderr lines on stderr), and
//! events on stderr.

use std::io::Write;

use k8s_openapi::api::core::v1::Event;
use wasmpod::{LogTap, Stream};

pub(crate) struct TerminalTap {
    /// Print Normal events too (progress: pulling, compiling, started).
    pub normal_events: bool,
}

/// `name` for the default namespace, else `namespace/name`.
pub(crate) fn pod_label(key: &str) -> &str {
    key.strip_prefix("default/").unwrap_or(key)
}

impl LogTap for TerminalTap {
    fn line(&self, pod: &str, container: &str, stream: Stream, text: &str) {
        let line = format!("[{}/{container}] {text}\n", pod_label(pod));
        // A closed terminal must not disturb the pods.
        let _ = match stream {
            Stream::Stdout => std::io::stdout().lock().write_all(line.as_bytes()),
            Stream::Stderr => std::io::stderr().lock().write_all(line.as_bytes()),
        };
    }

    fn event(&self, event: &Event) {
        let warning = event.type_.as_deref() == Some("Warning");
        if !warning && !self.normal_events {
            return;
        }
        let obj = &event.involved_object;
        let pod = obj.name.as_deref().unwrap_or_default();
        let ns = obj.namespace.as_deref().unwrap_or("default");
        let container = obj.field_path.as_deref().and_then(|f| f.strip_prefix("spec.containers{").or_else(|| f.strip_prefix("spec.initContainers{")));
        let who = match container.and_then(|f| f.strip_suffix('}')) {
            Some(c) => format!("{}/{c}", pod_label(&format!("{ns}/{pod}"))),
            None => pod_label(&format!("{ns}/{pod}")).to_owned(),
        };
        let count = event.count.filter(|c| *c > 1).map(|c| format!(" (x{c})")).unwrap_or_default();
        let kind = if warning { "Warning " } else { "" };
        let _ = writeln!(
            std::io::stderr().lock(),
            "wasmpod: [{who}] {kind}{}: {}{count}",
            event.reason.as_deref().unwrap_or_default(),
            event.message.as_deref().unwrap_or_default()
        );
    }
}
