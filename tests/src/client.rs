//! A raw HTTP/1.1 client on a unix socket, for tests that must control
//! exactly which bytes go into which `write()` call.

use std::{
    io::{Read as _, Write as _},
    os::unix::net::UnixStream,
    path::Path,
    time::Duration,
};

use anyhow::{bail, Context as _, Result};

/// How long a test waits for dockerd to answer one request.
const REPLY_LIMIT: Duration = Duration::from_secs(30);

/// One HTTP response, as far as the tests care.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// Status code.
    pub status: u16,
    /// Body, de-chunked.
    pub body: Vec<u8>,
}

/// A connection to a unix socket speaking HTTP/1.1.
#[derive(Debug)]
pub struct Conn {
    stream: UnixStream,
    buffered: Vec<u8>,
}

impl Conn {
    /// Connects to the socket at `path`.
    pub fn connect(path: &Path) -> Result<Self> {
        let stream = UnixStream::connect(path)
            .with_context(|| format!("connecting to {}", path.display()))?;
        stream.set_read_timeout(Some(REPLY_LIMIT))?;
        Ok(Self {
            stream,
            buffered: Vec::new(),
        })
    }

    /// Sends `bytes` with exactly one `write()` system call, so a test
    /// knows how the kernel saw the stream cut.
    pub fn write_once(&mut self, bytes: &[u8]) -> Result<()> {
        let written = self.stream.write(bytes).context("writing to the socket")?;
        if written != bytes.len() {
            bail!("one write() sent {written} of {} bytes", bytes.len());
        }
        Ok(())
    }

    /// Reads the next complete response.
    pub fn read_reply(&mut self) -> Result<Reply> {
        let mut chunk = [0u8; 8192];
        loop {
            if let Some((reply, used)) = parse_reply(&self.buffered)? {
                self.buffered.drain(..used);
                return Ok(reply);
            }
            let n = self.stream.read(&mut chunk).context("reading a response")?;
            if n == 0 {
                bail!("connection closed before a complete response");
            }
            self.buffered.extend_from_slice(&chunk[..n]);
        }
    }
}

/// The bytes of a request with a `Host` header and, if given, a body.
pub fn request_bytes(method: &str, target: &str, body: &[u8]) -> Vec<u8> {
    let mut bytes = format!("{method} {target} HTTP/1.1\r\nHost: docker\r\n").into_bytes();
    if !body.is_empty() {
        bytes.extend_from_slice(b"Content-Type: text/plain\r\n");
        bytes.extend_from_slice(format!("Content-Length: {}\r\n", body.len()).as_bytes());
    }
    bytes.extend_from_slice(b"\r\n");
    bytes.extend_from_slice(body);
    bytes
}

/// Sends one request on a new connection and reads its response.
pub fn request(socket: &Path, method: &str, target: &str) -> Result<Reply> {
    let mut conn = Conn::connect(socket)?;
    conn.write_once(&request_bytes(method, target, b""))?;
    conn.read_reply()
}

/// Parses one response from the front of `buf`: `None` while incomplete,
/// else the response and how many bytes it used.
pub fn parse_reply(buf: &[u8]) -> Result<Option<(Reply, usize)>> {
    let Some(head_len) = find(buf, b"\r\n\r\n").map(|at| at + 4) else {
        return Ok(None);
    };
    let head = std::str::from_utf8(&buf[..head_len]).context("response head is not UTF-8")?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .with_context(|| format!("bad status line {status_line:?}"))?;

    let mut length = None;
    let mut chunked = false;
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-length") {
            length = Some(value.parse::<usize>().context("bad Content-Length")?);
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            chunked = value.eq_ignore_ascii_case("chunked");
        }
    }

    let rest = &buf[head_len..];
    let body = if chunked {
        match dechunk(rest)? {
            Some((body, used)) => return Ok(Some((Reply { status, body }, head_len + used))),
            None => return Ok(None),
        }
    } else {
        let length = length.unwrap_or(0);
        if rest.len() < length {
            return Ok(None);
        }
        rest[..length].to_vec()
    };
    let used = head_len + body.len();
    Ok(Some((Reply { status, body }, used)))
}

/// Decodes a chunked body: `None` while incomplete.
fn dechunk(mut buf: &[u8]) -> Result<Option<(Vec<u8>, usize)>> {
    let total = buf.len();
    let mut body = Vec::new();
    loop {
        let Some(eol) = find(buf, b"\r\n") else {
            return Ok(None);
        };
        let size_text = std::str::from_utf8(&buf[..eol]).context("chunk size is not UTF-8")?;
        let size_text = size_text.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size_text, 16)
            .with_context(|| format!("bad chunk size {size_text:?}"))?;
        let data = &buf[eol + 2..];
        if size == 0 {
            // No trailers from dockerd: the last chunk ends with CRLF.
            if data.len() < 2 {
                return Ok(None);
            }
            return Ok(Some((body, total - data.len() + 2)));
        }
        if data.len() < size + 2 {
            return Ok(None);
        }
        body.extend_from_slice(&data[..size]);
        buf = &data[size + 2..];
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_two_pipelined_replies_and_waits_for_more() -> Result<()> {
        let two = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nOK\
                    HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n\
                    3\r\nabc\r\n1\r\nd\r\n0\r\n\r\n";
        let (first, used) = parse_reply(two)?.context("first reply")?;
        assert_eq!(
            first,
            Reply {
                status: 200,
                body: b"OK".to_vec()
            }
        );
        let (second, rest) = parse_reply(&two[used..])?.context("second reply")?;
        assert_eq!(
            second,
            Reply {
                status: 404,
                body: b"abcd".to_vec()
            }
        );
        assert_eq!(used + rest, two.len());
        assert_eq!(parse_reply(&two[..used - 1])?, None);
        assert_eq!(parse_reply(&two[used..two.len() - 1])?, None);
        Ok(())
    }

    #[test]
    fn rejects_a_garbled_status_line() {
        assert!(parse_reply(b"HTTP/1.1 two hundred\r\n\r\n").is_err());
    }

    #[test]
    fn builds_a_request_with_its_body_length() {
        let bytes = request_bytes("POST", "/x", b"hello");
        let text = String::from_utf8_lossy(&bytes);
        assert!(text.starts_with("POST /x HTTP/1.1\r\n"));
        assert!(text.contains("Content-Length: 5\r\n"));
        assert!(text.ends_with("\r\n\r\nhello"));
    }
}
