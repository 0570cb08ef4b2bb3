//! Rendering an error with its whole `source()` chain on one line, for
//! container status messages and events (which have no room for a trace).

/// `outer: cause: root cause`; a cause the text already ends with (an
/// error that prints its source itself) is not repeated.
pub(crate) fn full_message(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut cur = e.source();
    while let Some(s) = cur {
        let cause = s.to_string();
        if !text.ends_with(&cause) {
            text.push_str(": ");
            text.push_str(&cause);
        }
        cur = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    #[derive(Debug, thiserror::Error)]
    #[error("{0}")]
    struct Outer(String, #[source] std::io::Error);

    #[test]
    fn joins_the_source_chain() {
        let inner = std::io::Error::new(std::io::ErrorKind::NotFound, "no such file");
        assert_eq!(super::full_message(&Outer("cannot read /x".into(), inner)), "cannot read /x: no such file");
    }

    #[test]
    fn a_cause_the_text_already_ends_with_is_not_repeated() {
        let inner = std::io::Error::new(std::io::ErrorKind::NotFound, "no such file");
        assert_eq!(super::full_message(&Outer("cannot read /x: no such file".into(), inner)), "cannot read /x: no such file");
    }
}
