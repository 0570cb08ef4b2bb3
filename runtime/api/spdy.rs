//! SPDY/3.1 framing, as Kubernetes' streaming protocols use it
//! (moby/spdystream: kubectl's port-forward, exec and attach before
//! WebSockets, and still tunnelled inside a WebSocket by port-forward):
//! the frame codec and the zlib-compressed header blocks, pure and
//! synchronous. No maintained Rust crate serves SPDY, so this is written
//! from the SPDY/3.1 draft (sections 2.2, 2.6 and 2.6.10). Flow control
//! (WINDOW_UPDATE) is parsed and ignored, as spdystream ignores it.
//!
//! Header blocks are compressed with one zlib stream per direction and
//! connection, sync-flushed after each block. A peer compresses with the
//! SPDY dictionary ([`dictionary`]), so the decompressor starts its
//! history with it; this side compresses without one (a zlib stream
//! whose header does not ask for the dictionary, which Go's reader takes).

use bytes::{Buf, BufMut, Bytes, BytesMut};

/// The protocol version this codec speaks.
const VERSION: u16 = 3;

/// The largest frame accepted (the 24-bit length allows 16 MiB).
const MAX_FRAME: usize = 1 << 20;

/// The largest header block accepted, decompressed.
const MAX_HEADER_BLOCK: usize = 256 * 1024;

/// `FLAG_FIN`: the sender's last frame on the stream.
pub(crate) const FLAG_FIN: u8 = 1;

/// RST_STREAM status codes used here.
pub(crate) const PROTOCOL_ERROR: u32 = 1;

/// A frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Frame {
    Data { stream: u32, fin: bool, data: Bytes },
    SynStream { stream: u32, associated: u32, priority: u8, fin: bool, headers: Vec<(String, String)> },
    SynReply { stream: u32, fin: bool, headers: Vec<(String, String)> },
    RstStream { stream: u32, status: u32 },
    Settings,
    Ping { id: u32 },
    GoAway { last_stream: u32, status: u32 },
    Headers { stream: u32, fin: bool, headers: Vec<(String, String)> },
    WindowUpdate { stream: u32, delta: u32 },
}

/// Why a connection's bytes are not SPDY/3.1.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum SpdyError {
    #[error("SPDY frame of {0} bytes is larger than the {MAX_FRAME} accepted")]
    TooLarge(usize),
    #[error("SPDY version {0} (only 3 is spoken)")]
    Version(u16),
    #[error("SPDY control frame type {kind} is {len} bytes, too short")]
    Short { kind: u16, len: usize },
    #[error("SPDY header block: {0}")]
    Headers(&'static str),
}

/// The SPDY/3 header dictionary (draft 3.1, section 2.6.10.1): the
/// length-prefixed words, then the status lines, dates and common values.
pub(crate) fn dictionary() -> &'static [u8] {
    static DICT: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    DICT.get_or_init(|| {
        const WORDS: &[&str] = &[
            "options",
            "head",
            "post",
            "put",
            "delete",
            "trace",
            "accept",
            "accept-charset",
            "accept-encoding",
            "accept-language",
            "accept-ranges",
            "age",
            "allow",
            "authorization",
            "cache-control",
            "connection",
            "content-base",
            "content-encoding",
            "content-language",
            "content-length",
            "content-location",
            "content-md5",
            "content-range",
            "content-type",
            "date",
            "etag",
            "expect",
            "expires",
            "from",
            "host",
            "if-match",
            "if-modified-since",
            "if-none-match",
            "if-range",
            "if-unmodified-since",
            "last-modified",
            "location",
            "max-forwards",
            "pragma",
            "proxy-authenticate",
            "proxy-authorization",
            "range",
            "referer",
            "retry-after",
            "server",
            "te",
            "trailer",
            "transfer-encoding",
            "upgrade",
            "user-agent",
            "vary",
            "via",
            "warning",
            "www-authenticate",
            "method",
            "get",
            "status",
            "200 OK",
            "version",
            "HTTP/1.1",
            "url",
            "public",
            "set-cookie",
            "keep-alive",
            "origin",
        ];
        const TAIL: &str = "100101201202205206300302303304305306307402405406407408409410411412413414415416417502504505\
            203 Non-Authoritative Information204 No Content301 Moved Permanently400 Bad Request401 Unauthorized403 Forbidden404 Not Found\
            500 Internal Server Error501 Not Implemented503 Service UnavailableJan Feb Mar Apr May Jun Jul Aug Sept Oct Nov Dec 00:00:00 \
            Mon, Tue, Wed, Thu, Fri, Sat, Sun, GMTchunked,text/html,image/png,image/jpg,image/gif,application/xml,application/xhtml+xml,\
            text/plain,text/javascript,publicprivatemax-age=gzip,deflate,sdchcharset=utf-8charset=iso-8859-1,utf-,*,enq=0.";
        let mut d = Vec::with_capacity(1423);
        for w in WORDS {
            d.extend_from_slice(&(w.len() as u32).to_be_bytes());
            d.extend_from_slice(w.as_bytes());
        }
        d.extend_from_slice(TAIL.as_bytes());
        d
    })
}

fn adler32(bytes: &[u8]) -> u32 {
    let (mut a, mut b) = (1u32, 0u32);
    for chunk in bytes.chunks(5552) {
        for &x in chunk {
            a += u32::from(x);
            b += a;
        }
        a %= 65521;
        b %= 65521;
    }
    (b << 16) | a
}

/// Reads frames, keeping the peer's header decompression state.
pub(crate) struct Decoder {
    inflate: Box<miniz_oxide::inflate::core::DecompressorOxide>,
    /// The decompressed history (the dictionary first), as the
    /// decompressor's non-wrapping output buffer.
    history: Vec<u8>,
    /// Whether the zlib header has been read.
    started: bool,
}

impl Default for Decoder {
    fn default() -> Self {
        Self { inflate: Box::default(), history: dictionary().to_vec(), started: false }
    }
}

impl Decoder {
    /// The next whole frame in `buf` (taken off it), or `None` until
    /// more bytes come.
    pub(crate) fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Frame>, SpdyError> {
        if buf.len() < 8 {
            return Ok(None);
        }
        let len = (usize::from(buf[5]) << 16) | (usize::from(buf[6]) << 8) | usize::from(buf[7]);
        if len > MAX_FRAME {
            return Err(SpdyError::TooLarge(len));
        }
        if buf.len() < 8 + len {
            buf.reserve(8 + len - buf.len());
            return Ok(None);
        }
        let mut frame = buf.split_to(8 + len).freeze();
        let head = frame.get_u32();
        let flags = frame.get_u8();
        frame.advance(3);
        let fin = flags & FLAG_FIN != 0;
        if head & 0x8000_0000 == 0 {
            return Ok(Some(Frame::Data { stream: head & 0x7fff_ffff, fin, data: frame }));
        }
        let version = ((head >> 16) & 0x7fff) as u16;
        if version != VERSION {
            return Err(SpdyError::Version(version));
        }
        let kind = (head & 0xffff) as u16;
        let need = |n: usize| if len < n { Err(SpdyError::Short { kind, len }) } else { Ok(()) };
        Ok(Some(match kind {
            1 => {
                need(10)?;
                let stream = frame.get_u32() & 0x7fff_ffff;
                let associated = frame.get_u32() & 0x7fff_ffff;
                let priority = frame.get_u8() >> 5;
                frame.advance(1);
                Frame::SynStream { stream, associated, priority, fin, headers: self.headers(&frame)? }
            }
            2 => {
                need(4)?;
                let stream = frame.get_u32() & 0x7fff_ffff;
                Frame::SynReply { stream, fin, headers: self.headers(&frame)? }
            }
            3 => {
                need(8)?;
                Frame::RstStream { stream: frame.get_u32() & 0x7fff_ffff, status: frame.get_u32() }
            }
            4 => Frame::Settings,
            6 => {
                need(4)?;
                Frame::Ping { id: frame.get_u32() }
            }
            7 => {
                need(8)?;
                Frame::GoAway { last_stream: frame.get_u32() & 0x7fff_ffff, status: frame.get_u32() }
            }
            8 => {
                need(4)?;
                let stream = frame.get_u32() & 0x7fff_ffff;
                Frame::Headers { stream, fin, headers: self.headers(&frame)? }
            }
            9 => {
                need(8)?;
                Frame::WindowUpdate { stream: frame.get_u32() & 0x7fff_ffff, delta: frame.get_u32() & 0x7fff_ffff }
            }
            // Types this side has no use for (NOOP, CREDENTIAL): skipped.
            _ => Frame::Settings,
        }))
    }

    /// A header block: decompressed, then parsed.
    fn headers(&mut self, compressed: &[u8]) -> Result<Vec<(String, String)>, SpdyError> {
        parse_headers(&self.inflate(compressed)?)
    }

    fn inflate(&mut self, mut input: &[u8]) -> Result<Vec<u8>, SpdyError> {
        use miniz_oxide::inflate::TINFLStatus;
        use miniz_oxide::inflate::core::inflate_flags::{TINFL_FLAG_HAS_MORE_INPUT, TINFL_FLAG_USING_NON_WRAPPING_OUTPUT_BUF};
        if !self.started {
            // The zlib header: CMF, FLG, and the dictionary's id when FDICT.
            let [cmf, flg, ..] = *input else { return Err(SpdyError::Headers("a zlib header cut short")) };
            if cmf & 0x0f != 8 || (u16::from(cmf) << 8 | u16::from(flg)) % 31 != 0 {
                return Err(SpdyError::Headers("not a zlib stream"));
            }
            input = &input[2..];
            if flg & 0x20 != 0 {
                let id = input.get(..4).ok_or(SpdyError::Headers("a zlib header cut short"))?;
                if u32::from_be_bytes(id.try_into().expect("four bytes")) != adler32(dictionary()) {
                    return Err(SpdyError::Headers("compressed with another dictionary than SPDY/3's"));
                }
                input = &input[4..];
            }
            self.started = true;
        }
        let start = self.history.len();
        let mut pos = start;
        loop {
            if pos - start > MAX_HEADER_BLOCK {
                return Err(SpdyError::Headers("a header block larger than 256 KiB"));
            }
            self.history.resize(pos + 4096, 0);
            let flags = TINFL_FLAG_USING_NON_WRAPPING_OUTPUT_BUF | TINFL_FLAG_HAS_MORE_INPUT;
            let (status, used, written) = miniz_oxide::inflate::core::decompress(&mut self.inflate, input, &mut self.history, pos, flags);
            input = &input[used..];
            pos += written;
            match status {
                TINFLStatus::HasMoreOutput => continue,
                TINFLStatus::NeedsMoreInput | TINFLStatus::Done if input.is_empty() => break,
                TINFLStatus::NeedsMoreInput => continue,
                _ => return Err(SpdyError::Headers("the compressed header block does not decompress")),
            }
        }
        self.history.truncate(pos);
        let block = self.history[start..pos].to_vec();
        // Keep the 32 KiB a deflate back-reference can reach.
        if self.history.len() > 256 * 1024 {
            let cut = self.history.len() - 32 * 1024;
            self.history.drain(..cut);
        }
        Ok(block)
    }
}

/// `u32 count, then (u32 len, name, u32 len, value)*`.
fn parse_headers(mut b: &[u8]) -> Result<Vec<(String, String)>, SpdyError> {
    fn take<'a>(b: &mut &'a [u8]) -> Result<&'a [u8], SpdyError> {
        if b.len() < 4 {
            return Err(SpdyError::Headers("a header block cut short"));
        }
        let n = b.get_u32() as usize;
        if b.len() < n {
            return Err(SpdyError::Headers("a header longer than its block"));
        }
        let (v, rest) = b.split_at(n);
        *b = rest;
        Ok(v)
    }
    if b.len() < 4 {
        return Err(SpdyError::Headers("a header block cut short"));
    }
    let count = b.get_u32() as usize;
    if count > 1024 {
        return Err(SpdyError::Headers("more than 1024 headers"));
    }
    let mut out = Vec::with_capacity(count);
    for _ in 0..count {
        let name = String::from_utf8(take(&mut b)?.to_vec()).map_err(|_| SpdyError::Headers("a header name that is not UTF-8"))?;
        let value = String::from_utf8(take(&mut b)?.to_vec()).map_err(|_| SpdyError::Headers("a header value that is not UTF-8"))?;
        out.push((name.to_ascii_lowercase(), value));
    }
    Ok(out)
}

/// Writes frames, keeping this side's header compression state.
pub(crate) struct Encoder {
    deflate: flate2::Compress,
}

impl Default for Encoder {
    fn default() -> Self {
        Self { deflate: flate2::Compress::new(flate2::Compression::default(), true) }
    }
}

impl Encoder {
    /// Appends `frame` to `out`.
    pub(crate) fn encode(&mut self, frame: &Frame, out: &mut BytesMut) {
        let control = |out: &mut BytesMut, kind: u16, flags: u8, payload: &[u8]| {
            out.put_u16(0x8000 | VERSION);
            out.put_u16(kind);
            out.put_u32((u32::from(flags) << 24) | payload.len() as u32);
            out.put_slice(payload);
        };
        let fin = |f: bool| if f { FLAG_FIN } else { 0 };
        match frame {
            Frame::Data { stream, fin: f, data } => {
                out.put_u32(stream & 0x7fff_ffff);
                out.put_u32((u32::from(fin(*f)) << 24) | data.len() as u32);
                out.put_slice(data);
            }
            Frame::SynStream { stream, associated, priority, fin: f, headers } => {
                let mut p = BytesMut::new();
                p.put_u32(*stream);
                p.put_u32(*associated);
                p.put_u8(priority << 5);
                p.put_u8(0);
                p.put_slice(&self.compress(headers));
                control(out, 1, fin(*f), &p);
            }
            Frame::SynReply { stream, fin: f, headers } | Frame::Headers { stream, fin: f, headers } => {
                let kind = if matches!(frame, Frame::SynReply { .. }) { 2 } else { 8 };
                let mut p = BytesMut::new();
                p.put_u32(*stream);
                p.put_slice(&self.compress(headers));
                control(out, kind, fin(*f), &p);
            }
            Frame::RstStream { stream, status } => control(out, 3, 0, &[stream.to_be_bytes(), status.to_be_bytes()].concat()),
            Frame::Settings => control(out, 4, 0, &0u32.to_be_bytes()),
            Frame::Ping { id } => control(out, 6, 0, &id.to_be_bytes()),
            Frame::GoAway { last_stream, status } => control(out, 7, 0, &[last_stream.to_be_bytes(), status.to_be_bytes()].concat()),
            Frame::WindowUpdate { stream, delta } => control(out, 9, 0, &[stream.to_be_bytes(), delta.to_be_bytes()].concat()),
        }
    }

    /// A header block, compressed and sync-flushed.
    fn compress(&mut self, headers: &[(String, String)]) -> Vec<u8> {
        let mut raw = BytesMut::new();
        raw.put_u32(headers.len() as u32);
        for (n, v) in headers {
            raw.put_u32(n.len() as u32);
            raw.put_slice(n.as_bytes());
            raw.put_u32(v.len() as u32);
            raw.put_slice(v.as_bytes());
        }
        let mut out = Vec::with_capacity(raw.len() + 64);
        let mut input = &raw[..];
        loop {
            out.reserve(256);
            let before = self.deflate.total_in();
            let _ = self.deflate.compress_vec(input, &mut out, flate2::FlushCompress::Sync);
            input = &input[(self.deflate.total_in() - before) as usize..];
            // Done once all input is in and the flush fit.
            if input.is_empty() && out.len() < out.capacity() {
                return out;
            }
        }
    }
}

/// Writes the frames sent to the returned queue to `writer`, those
/// already queued together, until every sender is gone; then shuts the
/// writer down. One task writes, so frames of several streams never
/// interleave.
pub(crate) fn spawn_writer<W>(mut writer: W) -> (tokio::sync::mpsc::Sender<Frame>, tokio::task::JoinHandle<()>)
where
    W: tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    use tokio::io::AsyncWriteExt;
    let (frames, mut queue) = tokio::sync::mpsc::channel::<Frame>(64);
    let task = tokio::spawn(async move {
        let mut enc = Encoder::default();
        let mut buf = BytesMut::new();
        while let Some(f) = queue.recv().await {
            enc.encode(&f, &mut buf);
            while let Ok(f) = queue.try_recv() {
                enc.encode(&f, &mut buf);
            }
            if writer.write_all(&buf).await.is_err() || writer.flush().await.is_err() {
                return;
            }
            buf.clear();
        }
        let _ = writer.shutdown().await;
    });
    (frames, task)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(a, b)| ((*a).to_owned(), (*b).to_owned())).collect()
    }

    #[test]
    fn the_dictionary_is_spdy3s() {
        let d = dictionary();
        assert_eq!(d.len(), 1423);
        // The DICTID a Go (spdystream) client puts in its zlib header.
        assert_eq!(adler32(d), 0xe3c6_a7c2);
    }

    #[test]
    fn frames_round_trip_through_the_codec() {
        let frames = vec![
            Frame::SynStream {
                stream: 1,
                associated: 0,
                priority: 0,
                fin: false,
                headers: headers(&[("streamtype", "error"), ("port", "80"), ("requestid", "0")]),
            },
            Frame::SynStream {
                stream: 3,
                associated: 0,
                priority: 2,
                fin: false,
                headers: headers(&[("streamtype", "data"), ("port", "80"), ("requestid", "0")]),
            },
            Frame::SynReply { stream: 3, fin: false, headers: Vec::new() },
            Frame::Data { stream: 3, fin: false, data: Bytes::from_static(b"GET / HTTP/1.1\r\n\r\n") },
            Frame::Data { stream: 3, fin: true, data: Bytes::new() },
            Frame::Ping { id: 7 },
            Frame::RstStream { stream: 1, status: PROTOCOL_ERROR },
            Frame::WindowUpdate { stream: 3, delta: 65536 },
            Frame::Headers { stream: 3, fin: true, headers: headers(&[("x", "y")]) },
            Frame::GoAway { last_stream: 3, status: 0 },
        ];
        let (mut enc, mut dec) = (Encoder::default(), Decoder::default());
        let mut wire = BytesMut::new();
        for f in &frames {
            enc.encode(f, &mut wire);
        }
        // Fed a byte at a time, as a slow connection delivers them.
        let (mut buf, mut got) = (BytesMut::new(), Vec::new());
        for b in wire {
            buf.put_u8(b);
            while let Some(f) = dec.decode(&mut buf).unwrap() {
                got.push(f);
            }
        }
        assert_eq!(got, frames);
    }

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
    }

    fn syn_reply(stream: u32, block: &[u8]) -> BytesMut {
        let mut frame = BytesMut::new();
        frame.put_u16(0x8003);
        frame.put_u16(2);
        frame.put_u32(4 + block.len() as u32);
        frame.put_u32(stream);
        frame.put_slice(block);
        frame
    }

    /// Two header blocks as a Go client sends them: one zlib stream with
    /// FDICT and the SPDY dictionary, sync-flushed after each block, the
    /// second mostly back-references into the first and the dictionary
    /// (made by zlib's `compressobj(zdict=dictionary)`).
    #[test]
    fn blocks_compressed_with_the_dictionary_are_read() {
        let first = hex("78f9e3c6a7c202253a48f95b044eea16061606409ab308125f99a074cc68004e892545a989b9d0c2863515141500000000ffff");
        let second = hex("225333a8a44a04000000ffff");
        let mut dec = Decoder::default();
        let got = dec.decode(&mut syn_reply(1, &first)).unwrap().unwrap();
        assert_eq!(got, Frame::SynReply { stream: 1, fin: false, headers: headers(&[("port", "8080"), ("requestid", "0"), ("streamtype", "error")]) });
        let got = dec.decode(&mut syn_reply(3, &second)).unwrap().unwrap();
        assert_eq!(got, Frame::SynReply { stream: 3, fin: false, headers: headers(&[("port", "8080"), ("requestid", "0"), ("streamtype", "data")]) });
        // Another dictionary is refused.
        let mut other = syn_reply(5, &[0x78, 0xbb, 0, 0, 0, 1]);
        assert_eq!(Decoder::default().decode(&mut other), Err(SpdyError::Headers("compressed with another dictionary than SPDY/3's")));
    }

    #[test]
    fn bad_frames_are_errors_not_panics() {
        let mut big = BytesMut::from(&[0u8, 0, 0, 1, 0, 0xff, 0xff, 0xff][..]);
        assert_eq!(Decoder::default().decode(&mut big), Err(SpdyError::TooLarge(0xff_ffff)));
        let mut v2 = BytesMut::from(&[0x80u8, 2, 0, 6, 0, 0, 0, 4, 0, 0, 0, 1][..]);
        assert_eq!(Decoder::default().decode(&mut v2), Err(SpdyError::Version(2)));
        let mut short = BytesMut::from(&[0x80u8, 3, 0, 3, 0, 0, 0, 2, 0, 0][..]);
        assert!(matches!(Decoder::default().decode(&mut short), Err(SpdyError::Short { kind: 3, len: 2 })));
    }

    /// Fuzzing: random bytes, and valid frames with random bytes flipped,
    /// never panic the decoder (a fixed-seed generator, so a failure
    /// repeats).
    #[test]
    fn random_and_mutated_input_never_panics() {
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let mut valid = BytesMut::new();
        let mut enc = Encoder::default();
        enc.encode(
            &Frame::SynStream { stream: 1, associated: 0, priority: 0, fin: false, headers: headers(&[("streamtype", "data"), ("port", "1")]) },
            &mut valid,
        );
        enc.encode(&Frame::Data { stream: 1, fin: true, data: Bytes::from_static(b"hello") }, &mut valid);
        for round in 0..20_000 {
            let mut input = if round % 2 == 0 {
                let n = (next() % 64) as usize;
                let mut b = BytesMut::new();
                // Mostly control frames of version 3, to get past the header.
                b.put_u16(0x8003);
                for _ in 0..n {
                    b.put_u8(next() as u8);
                }
                b
            } else {
                let mut b = valid.clone();
                for _ in 0..1 + next() % 4 {
                    let i = (next() as usize) % b.len();
                    b[i] = next() as u8;
                }
                b
            };
            let mut dec = Decoder::default();
            while let Ok(Some(_)) = dec.decode(&mut input) {}
        }
    }
}
