//! A line discipline for `kubectl exec -t`, pure. kubectl puts the user's
//! terminal in raw mode and sends every keystroke; on a node a PTY would
//! echo them, edit the line and turn Enter into a newline. WASI has no
//! terminal, so the server does the part a line-mode shell needs: it
//! echoes what is typed, erases with Backspace (and the whole line with
//! Ctrl-U), hands the guest a line at Enter, ends its input at Ctrl-D on
//! an empty line, drops the line at Ctrl-C, and turns the guest's `\n`
//! into `\r\n` (ONLCR). What a PTY adds beyond that (signals such as
//! SIGINT at Ctrl-C, job control, window sizes for full-screen programs,
//! `isatty` in the guest) has nothing to act on in WASI and is absent.

/// What the discipline makes of some typed bytes.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Typed {
    /// To show the user (echo).
    pub echo: Vec<u8>,
    /// For the guest's stdin (whole lines).
    pub input: Vec<u8>,
    /// Ctrl-D on an empty line: the guest's stdin ends.
    pub end: bool,
}

/// The line being typed.
#[derive(Default)]
pub(crate) struct LineDiscipline {
    line: Vec<u8>,
}

impl LineDiscipline {
    /// Takes typed `bytes`.
    pub(crate) fn typed(&mut self, bytes: &[u8]) -> Typed {
        let mut out = Typed::default();
        for &b in bytes {
            match b {
                b'\r' | b'\n' => {
                    out.echo.extend_from_slice(b"\r\n");
                    self.line.push(b'\n');
                    out.input.append(&mut self.line);
                }
                // Backspace / DEL: one character (its UTF-8 bytes) off.
                0x7f | 0x08 => {
                    if !self.line.is_empty() {
                        while let Some(last) = self.line.pop() {
                            if last & 0xc0 != 0x80 {
                                break;
                            }
                        }
                        out.echo.extend_from_slice(b"\x08 \x08");
                    }
                }
                // Ctrl-U: the whole line.
                0x15 => {
                    for _ in 0..String::from_utf8_lossy(&self.line).chars().count() {
                        out.echo.extend_from_slice(b"\x08 \x08");
                    }
                    self.line.clear();
                }
                // Ctrl-C: the line is dropped (no signal to send).
                0x03 => {
                    out.echo.extend_from_slice(b"^C\r\n");
                    self.line.clear();
                }
                // Ctrl-D: end of input on an empty line, else the line so far.
                0x04 => {
                    if self.line.is_empty() {
                        out.end = true;
                        return out;
                    }
                    out.input.append(&mut self.line);
                }
                b'\t' => {
                    self.line.push(b);
                    out.echo.push(b);
                }
                b if b < 0x20 => {}
                b => {
                    self.line.push(b);
                    out.echo.push(b);
                }
            }
        }
        out
    }
}

/// The guest's output for a raw terminal: `\n` as `\r\n`.
pub(crate) fn onlcr(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len() + bytes.len() / 16);
    for &b in bytes {
        if b == b'\n' {
            out.push(b'\r');
        }
        out.push(b);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keystrokes_become_echoed_edited_lines() {
        let mut d = LineDiscipline::default();
        let t = d.typed(b"ecko\x7f\x7fho hi\r");
        assert_eq!(t.input, b"echo hi\n");
        assert_eq!(t.echo, b"ecko\x08 \x08\x08 \x08ho hi\r\n");
        // Split across messages, as keystrokes come.
        assert_eq!(d.typed(b"ls").input, b"");
        assert_eq!(d.typed(b" /\n").input, b"ls /\n");
        // Ctrl-U, Ctrl-C and non-ASCII erased whole.
        d.typed(b"abc\x15");
        assert_eq!(d.typed(b"x\x03").echo, b"x^C\r\n");
        assert_eq!(d.typed("é\x7fy\r".as_bytes()).input, b"y\n");
        // Ctrl-D: a partial line is sent; on an empty one, the end.
        assert_eq!(d.typed(b"part\x04").input, b"part");
        assert!(d.typed(b"\x04").end);
    }

    #[test]
    fn output_newlines_get_carriage_returns() {
        assert_eq!(onlcr(b"a\nb\n"), b"a\r\nb\r\n");
    }
}
