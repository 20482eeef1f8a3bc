//! Skipping a body sent with the chunked transfer coding, the way Go's
//! `net/http` reads it (its `internal/chunked.go` and the trailer reader of
//! `transfer.go`), without keeping any body byte.
//!
//! Go's rules, kept here because framing must agree with dockerd's byte for
//! byte: a chunk-size line ends in CRLF (a bare LF, or a CR anywhere else,
//! is refused), is at most 4096 bytes with its CRLF, may carry extensions
//! after `;` (ignored) and trailing blanks, and holds 1 to 16 hex digits;
//! chunk data is followed by exactly CRLF; a sender whose size lines and
//! extensions outweigh its data by more than 16 KiB is refused. After the
//! last (zero) chunk come trailer lines, ended by an empty line.
//!
//! One place where this is more lenient than Go: Go insists that a trailer
//! section other than a lone CRLF contains CRLF CRLF within its 4 KiB read
//! buffer; here any empty line (CRLF or LF) ends it, within 4 KiB. Where Go
//! refuses, dockerd closes the connection, so leniency can only make us see
//! requests dockerd never read, never miss one it did.

use super::ParseError;

/// Longest chunk-size line, CRLF included (Go's 4096-byte read buffer).
const MAX_SIZE_LINE: usize = 4096;

/// Longest trailer section.
const MAX_TRAILER: usize = 4096;

/// Overhead beyond which Go calls the body abusive.
const MAX_EXCESS: i64 = 16 * 1024;

/// Where in the chunked framing the next byte falls.
#[derive(Debug)]
enum Part {
    /// Inside a chunk-size line; holds its bytes so far, without the LF.
    Size(Vec<u8>),
    /// Inside chunk data, with this many bytes left.
    Data(u64),
    /// Right after chunk data; `true` once its CR was seen.
    DataEnd(bool),
    /// In the trailer section, after `total` bytes of it.
    Trailer {
        total: usize,
        line_len: usize,
        last_cr: bool,
    },
    /// The body has ended.
    Done,
}

/// A chunked body being skipped.
#[derive(Debug)]
pub(super) struct ChunkedBody {
    part: Part,
    /// Go's running count of framing bytes not paid for by data.
    excess: i64,
}

impl ChunkedBody {
    /// A body whose first chunk-size line comes next.
    pub(super) fn new() -> Self {
        Self {
            part: Part::Size(Vec::new()),
            excess: 0,
        }
    }

    /// Consumes a prefix of `bytes`: returns how many bytes belonged to the
    /// body and whether the body ended with them.
    pub(super) fn consume(&mut self, bytes: &[u8]) -> Result<(usize, bool), ParseError> {
        let mut used = 0;
        while used < bytes.len() {
            if matches!(self.part, Part::Done) {
                break;
            }
            used += self.step(&bytes[used..])?;
        }
        Ok((used, matches!(self.part, Part::Done)))
    }

    /// Accounts for `n` bytes that were sent but not captured. Only chunk
    /// data may be missing: a gap in the framing loses the body's end.
    pub(super) fn skip(&mut self, n: u64) -> Result<(), ParseError> {
        match &mut self.part {
            Part::Data(left) if n <= *left => {
                *left -= n;
                if *left == 0 {
                    self.part = Part::DataEnd(false);
                }
                Ok(())
            }
            _ => Err(ParseError::CaptureGap),
        }
    }

    /// Consumes at least one byte of `bytes` (which is not empty).
    fn step(&mut self, bytes: &[u8]) -> Result<usize, ParseError> {
        match &mut self.part {
            Part::Size(line) => {
                let newline = bytes.iter().position(|&b| b == b'\n');
                let piece = &bytes[..newline.unwrap_or(bytes.len())];
                if line.len() + piece.len() + usize::from(newline.is_some()) > MAX_SIZE_LINE {
                    return Err(ParseError::BadChunk);
                }
                line.extend_from_slice(piece);
                if newline.is_none() {
                    return Ok(piece.len());
                }
                let line = std::mem::take(line);
                self.end_size_line(&line)?;
                Ok(piece.len() + 1)
            }
            Part::Data(left) => {
                let take = bytes
                    .len()
                    .min(usize::try_from(*left).unwrap_or(usize::MAX));
                *left -= take as u64;
                if *left == 0 {
                    self.part = Part::DataEnd(false);
                }
                Ok(take)
            }
            Part::DataEnd(seen_cr) => {
                match (*seen_cr, bytes[0]) {
                    (false, b'\r') => *seen_cr = true,
                    (true, b'\n') => self.part = Part::Size(Vec::new()),
                    _ => return Err(ParseError::BadChunk),
                }
                Ok(1)
            }
            Part::Trailer {
                total,
                line_len,
                last_cr,
            } => {
                let b = bytes[0];
                *total += 1;
                if *total > MAX_TRAILER {
                    return Err(ParseError::BadChunk);
                }
                if b == b'\n' {
                    let empty = *line_len == 0 || (*line_len == 1 && *last_cr);
                    if empty {
                        self.part = Part::Done;
                    } else {
                        (*line_len, *last_cr) = (0, false);
                    }
                } else {
                    (*line_len, *last_cr) = (*line_len + 1, b == b'\r');
                }
                Ok(1)
            }
            Part::Done => Ok(0),
        }
    }

    /// Checks a complete chunk-size line (without its LF) and moves on to
    /// the chunk's data, or to the trailer after the last chunk.
    fn end_size_line(&mut self, line: &[u8]) -> Result<(), ParseError> {
        let Some((b'\r', content)) = line.split_last() else {
            return Err(ParseError::BadChunk);
        };
        if content.contains(&b'\r') {
            return Err(ParseError::BadChunk);
        }
        self.excess = self.excess.wrapping_add(content.len() as i64 + 2);

        let mut size = content;
        while let Some((b' ' | b'\t', rest)) = size.split_last() {
            size = rest;
        }
        if let Some(semi) = size.iter().position(|&b| b == b';') {
            size = &size[..semi];
        }
        let n = parse_hex(size).ok_or(ParseError::BadChunk)?;

        // Go does this arithmetic on int64, wrapping, so that some sizes
        // near 2^64 count as abuse; doing the same keeps us in step.
        let paid = 16i64.wrapping_add(2i64.wrapping_mul(n as i64));
        self.excess = self.excess.wrapping_sub(paid).max(0);
        if self.excess > MAX_EXCESS {
            return Err(ParseError::BadChunk);
        }

        self.part = match n {
            0 => Part::Trailer {
                total: 0,
                line_len: 0,
                last_cr: false,
            },
            n => Part::Data(n),
        };
        Ok(())
    }
}

/// 1 to 16 hexadecimal digits.
fn parse_hex(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() || digits.len() > 16 {
        return None;
    }
    digits.iter().try_fold(0u64, |n, &d| {
        let v = (d as char).to_digit(16)?;
        Some(n << 4 | u64::from(v))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `bytes` in pieces of `step` bytes; returns bytes used and
    /// whether the body ended.
    fn run(bytes: &[u8], step: usize) -> Result<(usize, bool), ParseError> {
        let mut body = ChunkedBody::new();
        let mut used = 0;
        for piece in bytes.chunks(step) {
            let (n, done) = body.consume(piece)?;
            used += n;
            if done {
                return Ok((used, true));
            }
        }
        Ok((used, false))
    }

    #[test]
    fn three_byte_chunks_end_where_the_body_ends() {
        let body = b"3\r\nabc\r\n3;ext=1\r\ndef\r\n3 \t\r\nghi\r\n0\r\n\r\nGET / HTTP/1.1\r\n";
        let end = body.len() - b"GET / HTTP/1.1\r\n".len();
        for step in 1..body.len() {
            assert_eq!(run(body, step), Ok((end, true)), "step {step}");
        }
    }

    #[test]
    fn trailers_are_skipped() {
        let body = b"1\r\nx\r\n0\r\nDigest: abc\r\nX-More: 1\n\r\nNEXT";
        assert_eq!(run(body, 1), Ok((body.len() - 4, true)));
    }

    #[test]
    fn what_go_refuses_is_refused() {
        let bad: [&[u8]; 9] = [
            b"3\nabc\r\n",            // bare LF after the size
            b"3\r\r\nabc\r\n",        // CR inside the size line
            b"\r\nabc\r\n",           // no digits
            b"x\r\n",                 // not hex
            b"3\r\nabcX\r\n",         // data longer than announced
            b"3\r\nabc\n",            // bare LF after data
            b"11111111111111111\r\n", // 17 digits
            b"ffffffffffffe000\r\n",  // wraps in Go's overhead check, which trips
            b"0 ;a\r\n",              // blank before the extension is not trimmed
        ];
        for bytes in bad {
            assert_eq!(
                run(bytes, 1),
                Err(ParseError::BadChunk),
                "{:?}",
                bytes.escape_ascii()
            );
        }
    }

    #[test]
    fn size_line_and_overhead_limits() {
        let mut line = vec![b'1', b';'];
        line.resize(MAX_SIZE_LINE - 2, b'e');
        line.extend_from_slice(b"\r\nx\r\n");
        assert_eq!(run(&line, 7).map(|(_, done)| done), Ok(false));
        line.insert(2, b'e');
        assert_eq!(run(&line, 7), Err(ParseError::BadChunk));

        // Small chunks with long extensions: fine at first, refused once
        // the unpaid overhead passes 16 KiB, as Go does.
        let mut abusive = Vec::new();
        for _ in 0..40 {
            abusive.extend_from_slice(b"1;");
            abusive.extend(std::iter::repeat_n(b'e', 500));
            abusive.extend_from_slice(b"\r\nx\r\n");
        }
        assert_eq!(run(&abusive, 64), Err(ParseError::BadChunk));
        assert_eq!(
            run(&abusive[..abusive.len() / 4], 64).map(|r| r.1),
            Ok(false)
        );
    }

    #[test]
    fn gaps_are_fine_only_inside_data() {
        let mut body = ChunkedBody::new();
        assert_eq!(body.consume(b"10\r\nab"), Ok((6, false)));
        assert_eq!(body.skip(14), Ok(()));
        assert_eq!(body.consume(b"\r\n0\r\n\r\n"), Ok((7, true)));

        let mut body = ChunkedBody::new();
        assert_eq!(body.consume(b"2\r\nab"), Ok((5, false)));
        assert_eq!(body.skip(1), Err(ParseError::CaptureGap));
        assert_eq!(ChunkedBody::new().skip(1), Err(ParseError::CaptureGap));
    }

    #[test]
    fn long_trailers_are_refused() {
        let mut body = b"0\r\nX: ".to_vec();
        body.resize(MAX_TRAILER + 10, b'a');
        assert_eq!(run(&body, 100), Err(ParseError::BadChunk));
    }
}
