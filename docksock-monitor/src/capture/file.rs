//! The record file: raw ring-buffer records as the daemon read them, for
//! `replay` and for tests.
//!
//! Layout: [`RECORD_FILE_MAGIC`], then for each record its length as a
//! little-endian `u32` followed by that many raw bytes. Records are stored
//! undecoded, so a replay counts bad records exactly as the live run did.

use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::path::Path;

/// First bytes of every record file; the `\x01` is the file format version.
pub const RECORD_FILE_MAGIC: &[u8; 14] = b"DOCKSOCK-REC\x01\n";

/// Largest record a reader accepts. Ring-buffer records are at most a few
/// tens of KiB; anything far larger means the file is corrupt.
const MAX_FILE_RECORD: u32 = 1 << 20;

/// Why a record file could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum RecordFileError {
    /// The operating system refused a read, write or open.
    #[error("record file {file}, at byte {offset}: {source}")]
    Io {
        /// Path (or name) of the file.
        file: String,
        /// Byte offset of the failed operation.
        offset: u64,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// The file does not start with [`RECORD_FILE_MAGIC`].
    #[error(
        "{file} is not a docksock record file (bad magic at byte 0); \
         record one with `run --record`"
    )]
    BadMagic {
        /// Path (or name) of the file.
        file: String,
    },
    /// The file ends inside a record.
    #[error(
        "record file {file} is cut short at byte {offset}: \
         needed {want} more bytes, found {got}"
    )]
    Truncated {
        /// Path (or name) of the file.
        file: String,
        /// Byte offset where the incomplete part starts.
        offset: u64,
        /// Bytes needed.
        want: u64,
        /// Bytes found before the end of the file.
        got: u64,
    },
    /// A length prefix is larger than any real record.
    #[error(
        "record file {file} is corrupt at byte {offset}: \
         record length {len} is too large"
    )]
    TooLarge {
        /// Path (or name) of the file.
        file: String,
        /// Byte offset of the length prefix.
        offset: u64,
        /// The length found.
        len: u32,
    },
}

/// Appends raw records to a record file.
#[derive(Debug)]
pub struct RecordWriter<W: Write> {
    out: W,
    file: String,
    offset: u64,
}

impl RecordWriter<BufWriter<File>> {
    /// Creates (or truncates) `path` and writes the magic.
    pub fn create(path: &Path) -> Result<Self, RecordFileError> {
        let file = path.display().to_string();
        let out = File::create(path).map_err(|source| RecordFileError::Io {
            file: file.clone(),
            offset: 0,
            source,
        })?;
        Self::new(BufWriter::new(out), file)
    }
}

impl<W: Write> RecordWriter<W> {
    /// Writes the magic to `out`; `file` names it in errors.
    pub fn new(mut out: W, file: impl Into<String>) -> Result<Self, RecordFileError> {
        let file = file.into();
        out.write_all(RECORD_FILE_MAGIC)
            .map_err(|source| RecordFileError::Io {
                file: file.clone(),
                offset: 0,
                source,
            })?;
        Ok(Self {
            out,
            file,
            offset: RECORD_FILE_MAGIC.len() as u64,
        })
    }

    /// Appends one raw record.
    pub fn write_record(&mut self, raw: &[u8]) -> Result<(), RecordFileError> {
        let len = u32::try_from(raw.len())
            .ok()
            .filter(|&l| l <= MAX_FILE_RECORD)
            .ok_or(RecordFileError::TooLarge {
                file: self.file.clone(),
                offset: self.offset,
                len: u32::try_from(raw.len()).unwrap_or(u32::MAX),
            })?;
        let res = self
            .out
            .write_all(&len.to_le_bytes())
            .and_then(|()| self.out.write_all(raw));
        res.map_err(|source| RecordFileError::Io {
            file: self.file.clone(),
            offset: self.offset,
            source,
        })?;
        self.offset += 4 + u64::from(len);
        Ok(())
    }

    /// Flushes buffered records to the file.
    pub fn flush(&mut self) -> Result<(), RecordFileError> {
        self.out.flush().map_err(|source| RecordFileError::Io {
            file: self.file.clone(),
            offset: self.offset,
            source,
        })
    }

    /// Flushes and returns the underlying writer.
    pub fn into_inner(mut self) -> Result<W, RecordFileError> {
        self.flush()?;
        Ok(self.out)
    }
}

/// Reads raw records back from a record file, in order.
///
/// Also an [`Iterator`] of results that ends after the first error.
#[derive(Debug)]
pub struct RecordReader<R: Read> {
    input: R,
    file: String,
    offset: u64,
    failed: bool,
}

impl RecordReader<BufReader<File>> {
    /// Opens `path` and checks its magic.
    pub fn open(path: &Path) -> Result<Self, RecordFileError> {
        let file = path.display().to_string();
        let input = File::open(path).map_err(|source| RecordFileError::Io {
            file: file.clone(),
            offset: 0,
            source,
        })?;
        Self::new(BufReader::new(input), file)
    }
}

impl<R: Read> RecordReader<R> {
    /// Reads and checks the magic from `input`; `file` names it in errors.
    pub fn new(mut input: R, file: impl Into<String>) -> Result<Self, RecordFileError> {
        let file = file.into();
        let mut magic = [0u8; RECORD_FILE_MAGIC.len()];
        let got =
            read_full(&mut input, &mut magic).map_err(|source| RecordFileError::Io {
                file: file.clone(),
                offset: 0,
                source,
            })?;
        if got != magic.len() || &magic != RECORD_FILE_MAGIC {
            return Err(RecordFileError::BadMagic { file });
        }
        Ok(Self {
            input,
            file,
            offset: magic.len() as u64,
            failed: false,
        })
    }

    /// Byte offset of the next record's length prefix.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// The next raw record, or `None` at a clean end of file.
    pub fn next_record(&mut self) -> Result<Option<Vec<u8>>, RecordFileError> {
        let mut prefix = [0u8; 4];
        let got = self.read(&mut prefix, self.offset)?;
        if got == 0 {
            return Ok(None);
        }
        if got < prefix.len() {
            return Err(self.truncated(self.offset, 4, got));
        }

        let len = u32::from_le_bytes(prefix);
        if len > MAX_FILE_RECORD {
            return Err(RecordFileError::TooLarge {
                file: self.file.clone(),
                offset: self.offset,
                len,
            });
        }

        let body_at = self.offset + 4;
        let mut raw = vec![0u8; len as usize];
        let got = self.read(&mut raw, body_at)?;
        if got < raw.len() {
            return Err(self.truncated(body_at, raw.len(), got));
        }
        self.offset = body_at + u64::from(len);
        Ok(Some(raw))
    }

    fn read(&mut self, buf: &mut [u8], offset: u64) -> Result<usize, RecordFileError> {
        read_full(&mut self.input, buf).map_err(|source| RecordFileError::Io {
            file: self.file.clone(),
            offset,
            source,
        })
    }

    fn truncated(&self, offset: u64, want: usize, got: usize) -> RecordFileError {
        RecordFileError::Truncated {
            file: self.file.clone(),
            offset,
            want: want as u64,
            got: got as u64,
        }
    }
}

impl<R: Read> Iterator for RecordReader<R> {
    type Item = Result<Vec<u8>, RecordFileError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        let item = self.next_record().transpose();
        if matches!(item, Some(Err(_))) {
            self.failed = true;
        }
        item
    }
}

/// Reads until `buf` is full or the input ends; returns the bytes read.
fn read_full(input: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match input.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}
