//! Rendering an error with its whole `source()` chain on one line, for
//! container status messages and events (which have no room for a trace).

/// `outer: cause: root cause`.
pub(crate) fn full_message(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut cur = e.source();
    while let Some(s) = cur {
        text.push_str(": ");
        text.push_str(&s.to_string());
        cur = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    #[test]
    fn joins_the_source_chain() {
        let inner = std::io::Error::new(std::io::ErrorKind::NotFound, "no such file");
        let outer = crate::store::StoreError::Io { action: "cannot read", path: "/x".into(), source: inner };
        assert_eq!(super::full_message(&outer), "cannot read /x: no such file");
    }
}
