//! Stream plumbing shared by every command.
//!
//! WASI has no processes, so the shell runs every command in-process and a
//! command's stdin/stdout/stderr are just values: the process streams, an
//! in-memory buffer (pipelines, `$(...)`), a file (redirections) or a sink
//! (`/dev/null`, which WASI does not have). The streams are reference
//! counted so that `2>&1` can make stderr the very same writer as stdout.

use std::cell::RefCell;
use std::fmt::Display;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::rc::Rc;

/// A readable stream; clones share the same underlying reader and position.
#[derive(Clone)]
pub struct Input(Rc<RefCell<dyn BufRead>>);

impl Input {
    pub fn new<R: BufRead + 'static>(r: R) -> Self {
        Input(Rc::new(RefCell::new(r)))
    }
    pub fn empty() -> Self {
        Self::new(io::empty())
    }
    pub fn bytes(data: Vec<u8>) -> Self {
        Self::new(io::Cursor::new(data))
    }
    /// Reads up to and including `delim`; used by `read` so that it never
    /// consumes more than one line of a shared stdin.
    pub fn read_until(&self, delim: u8, buf: &mut Vec<u8>) -> io::Result<usize> {
        self.0.borrow_mut().read_until(delim, buf)
    }
    pub fn read_all(&self) -> io::Result<Vec<u8>> {
        let mut v = Vec::new();
        self.0.borrow_mut().read_to_end(&mut v)?;
        Ok(v)
    }
}

impl Read for Input {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.borrow_mut().read(buf)
    }
}

/// A writable stream; clones write to the same place.
#[derive(Clone)]
pub struct Output(Rc<RefCell<dyn Write>>);

/// The buffer behind an [`Output::buffer`], readable once the writers are done.
pub type Buffer = Rc<RefCell<Vec<u8>>>;

impl Output {
    pub fn new<W: Write + 'static>(w: W) -> Self {
        Output(Rc::new(RefCell::new(w)))
    }
    pub fn null() -> Self {
        Self::new(io::sink())
    }
    pub fn buffer() -> (Self, Buffer) {
        let b: Buffer = Rc::new(RefCell::new(Vec::new()));
        (Output(b.clone()), b)
    }
}

impl Write for Output {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.borrow_mut().write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.0.borrow_mut().flush()
    }
}

/// What a command gets besides its arguments: its three streams and its
/// environment (the exported shell variables plus `VAR=x` prefixes).
#[derive(Clone)]
pub struct Io {
    pub stdin: Input,
    pub stdout: Output,
    pub stderr: Output,
    pub env: Rc<Vec<(String, String)>>,
}

impl Io {
    /// The process's own streams. Rust's stdout is line buffered, which is
    /// what we want for container logs: each line shows up when written.
    pub fn stdio(env: Vec<(String, String)>) -> Self {
        Io { stdin: Input::new(io::stdin().lock()), stdout: Output::new(io::stdout()), stderr: Output::new(io::stderr()), env: Rc::new(env) }
    }

    pub fn getenv(&self, name: &str) -> Option<&str> {
        self.env.iter().rev().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    /// Writes `prog: msg` to stderr, the busybox error style.
    pub fn err(&mut self, prog: &str, msg: impl Display) {
        let _ = writeln!(self.stderr, "{prog}: {msg}");
    }

    /// Writes bytes to stdout, ignoring errors (a closed stdout is not the
    /// command's problem to report).
    pub fn out(&mut self, data: &[u8]) {
        let _ = self.stdout.write_all(data);
    }

    pub fn outs(&mut self, s: &str) {
        self.out(s.as_bytes());
    }

    /// Opens a file operand for reading; `-` is stdin and `/dev/null` is
    /// empty (WASI has no /dev).
    pub fn open_in(&self, path: &str) -> io::Result<Input> {
        match path {
            "-" | "/dev/stdin" => Ok(self.stdin.clone()),
            "/dev/null" | "/dev/zero" => Ok(Input::empty()),
            _ => {
                let f = File::open(path)?;
                if f.metadata()?.is_dir() {
                    return Err(io::Error::new(io::ErrorKind::IsADirectory, "Is a directory"));
                }
                Ok(Input::new(BufReader::new(f)))
            }
        }
    }

    /// Reads a whole file operand (see [`Io::open_in`]).
    pub fn read_path(&self, path: &str) -> io::Result<Vec<u8>> {
        self.open_in(path)?.read_all()
    }

    /// Opens a file for writing, mapping the /dev names WASI lacks.
    pub fn open_out(&self, path: &str, append: bool) -> io::Result<Output> {
        match path {
            "/dev/null" => Ok(Output::null()),
            "/dev/stdout" => Ok(self.stdout.clone()),
            "/dev/stderr" => Ok(self.stderr.clone()),
            _ => {
                let f = if append { File::options().append(true).create(true).open(path)? } else { File::create(path)? };
                Ok(Output::new(f))
            }
        }
    }
}

/// The strerror-like text of an I/O error, without Rust's
/// " (os error N)" suffix, and identical on Linux and WASI for the usual
/// cases so messages do not depend on the platform's libc.
pub fn errmsg(e: &io::Error) -> String {
    use io::ErrorKind as K;
    let fixed = match e.kind() {
        K::NotFound => "No such file or directory",
        K::PermissionDenied => "Permission denied",
        K::AlreadyExists => "File exists",
        K::IsADirectory => "Is a directory",
        K::NotADirectory => "Not a directory",
        K::DirectoryNotEmpty => "Directory not empty",
        K::ReadOnlyFilesystem => "Read-only file system",
        K::InvalidFilename => "File name too long",
        K::CrossesDevices => "Invalid cross-device link",
        K::Unsupported => "Not supported",
        _ => "",
    };
    if !fixed.is_empty() {
        return fixed.to_owned();
    }
    let s = e.to_string();
    match s.find(" (os error") {
        Some(i) => s[..i].to_owned(),
        None => s,
    }
}

/// Splits data into lines without their `\n`; a final line without a
/// newline is kept. Also reports whether the data ended with a newline.
pub fn split_lines(data: &[u8]) -> (Vec<&[u8]>, bool) {
    if data.is_empty() {
        return (Vec::new(), true);
    }
    let ends_nl = data.ends_with(b"\n");
    let body = if ends_nl { &data[..data.len() - 1] } else { data };
    (body.split(|&b| b == b'\n').collect(), ends_nl)
}

/// The current directory as an absolute path without `.`/`..` parts
/// (WASI's getcwd returns the path as it was given to chdir).
pub fn current_dir() -> io::Result<String> {
    let p = std::env::current_dir()?;
    let mut parts: Vec<String> = Vec::new();
    for c in p.to_string_lossy().split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            c => parts.push(c.to_owned()),
        }
    }
    Ok(format!("/{}", parts.join("/")))
}
