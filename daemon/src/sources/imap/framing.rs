//! Limits on what an IMAP server may send, enforced on the byte stream before async-imap buffers it.
//!
//! async-imap keeps reading into one buffer until imap-proto can parse a whole response: a
//! literal announced as `{629145600}` makes it reserve (and zero) that much memory up to 512 MiB,
//! and a line without CRLF grows the buffer and is parsed again after every read. RFC822.SIZE is
//! what the server claims, not what it sends. So every session's stream goes through
//! [`FramedLimits`], which follows the response framing (lines, and literals inside them) as the
//! bytes arrive and fails the read with a [`FramingViolation`] as soon as a literal is announced
//! larger than the message size limit or a line outgrows [`MAX_LINE_BYTES`]. Nothing of what the
//! server sent goes into the error.

use std::fmt;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// The longest line (outside literals) accepted from a server. The watcher's commands are
/// answered with short lines (one FETCH line per message, the body as a literal).
pub const MAX_LINE_BYTES: u64 = 1024 * 1024;

/// Why a server's response was cut off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FramingViolation {
    /// A literal larger than the message size limit was announced.
    LiteralTooLarge,
    /// A line grew past [`MAX_LINE_BYTES`] without CRLF.
    LineTooLong,
}

impl fmt::Display for FramingViolation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::LiteralTooLarge => "the server announced more bytes than the message size limit",
            Self::LineTooLong => "the server sent a line longer than the line limit",
        })
    }
}

impl std::error::Error for FramingViolation {}

impl FramingViolation {
    /// The violation behind an I/O error of a session's stream, if any.
    pub fn of(error: &io::Error) -> Option<FramingViolation> {
        error
            .get_ref()
            .and_then(|inner| inner.downcast_ref::<FramingViolation>())
            .copied()
    }
}

/// Where the scanner is in the server's response stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Position {
    /// Inside a line: `len` bytes since its start (or since the end of the last literal in it).
    Line { len: u64, brace: Brace },
    /// Inside a literal with this many bytes still to come.
    Literal { remaining: u64 },
}

/// The tail of the current line, as far as a literal announcement (`{123}` CRLF) is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Brace {
    None,
    /// After `{`, with the digits read so far (`any` once at least one was read).
    Digits {
        value: u64,
        any: bool,
    },
    /// After `{N}`.
    Closed(u64),
    /// After `{N}` CR.
    ClosedCr(u64),
}

/// The framing state of one connection's incoming bytes.
#[derive(Debug, Clone)]
pub struct Scanner {
    max_literal: u64,
    max_line: u64,
    position: Position,
    violation: Option<FramingViolation>,
}

impl Scanner {
    pub fn new(max_literal: u64, max_line: u64) -> Scanner {
        Scanner {
            max_literal,
            max_line,
            position: Position::Line {
                len: 0,
                brace: Brace::None,
            },
            violation: None,
        }
    }

    /// Follows `bytes`; the first violation is kept and returned from then on.
    pub fn feed(&mut self, mut bytes: &[u8]) -> Result<(), FramingViolation> {
        if let Some(violation) = self.violation {
            return Err(violation);
        }
        while !bytes.is_empty() {
            match self.position {
                Position::Literal { remaining } => {
                    let take = usize::try_from(remaining)
                        .unwrap_or(usize::MAX)
                        .min(bytes.len());
                    bytes = &bytes[take..];
                    let remaining = remaining - take as u64;
                    self.position = if remaining == 0 {
                        Position::Line {
                            len: 0,
                            brace: Brace::None,
                        }
                    } else {
                        Position::Literal { remaining }
                    };
                }
                Position::Line { len, brace } => {
                    let byte = bytes[0];
                    bytes = &bytes[1..];
                    self.position = self.line_byte(len, brace, byte).inspect_err(|v| {
                        self.violation = Some(*v);
                    })?;
                }
            }
        }
        Ok(())
    }

    fn line_byte(&self, len: u64, brace: Brace, byte: u8) -> Result<Position, FramingViolation> {
        let len = len + 1;
        if len > self.max_line {
            return Err(FramingViolation::LineTooLong);
        }
        let line = |brace| Ok(Position::Line { len, brace });
        match (brace, byte) {
            (_, b'{') => line(Brace::Digits {
                value: 0,
                any: false,
            }),
            (Brace::Digits { value, .. }, b'0'..=b'9') => line(Brace::Digits {
                value: value
                    .saturating_mul(10)
                    .saturating_add(u64::from(byte - b'0')),
                any: true,
            }),
            (Brace::Digits { value, any: true }, b'}') => line(Brace::Closed(value)),
            (Brace::Closed(n), b'\r') => line(Brace::ClosedCr(n)),
            (Brace::ClosedCr(n), b'\n') => {
                if n > self.max_literal {
                    Err(FramingViolation::LiteralTooLarge)
                } else if n == 0 {
                    Ok(Position::Line {
                        len: 0,
                        brace: Brace::None,
                    })
                } else {
                    Ok(Position::Literal { remaining: n })
                }
            }
            (_, b'\n') => Ok(Position::Line {
                len: 0,
                brace: Brace::None,
            }),
            _ => line(Brace::None),
        }
    }
}

/// A session's stream with the server's bytes checked by a [`Scanner`] as they are read.
/// Writes pass through untouched.
pub struct FramedLimits<S> {
    inner: S,
    scanner: Scanner,
}

impl<S> FramedLimits<S> {
    /// Literals up to `max_literal` bytes, lines up to [`MAX_LINE_BYTES`].
    pub fn new(inner: S, max_literal: u64) -> FramedLimits<S> {
        FramedLimits {
            inner,
            scanner: Scanner::new(max_literal, MAX_LINE_BYTES),
        }
    }

    /// The stream inside (for STARTTLS, which continues on the raw connection).
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S> fmt::Debug for FramedLimits<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FramedLimits").finish_non_exhaustive()
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for FramedLimits<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if let Some(violation) = this.scanner.violation {
            return Poll::Ready(Err(io::Error::new(io::ErrorKind::InvalidData, violation)));
        }
        let before = buf.filled().len();
        std::task::ready!(Pin::new(&mut this.inner).poll_read(cx, buf))?;
        match this.scanner.feed(&buf.filled()[before..]) {
            Ok(()) => Poll::Ready(Ok(())),
            Err(violation) => {
                // The bytes just read are not handed on: the session ends here.
                buf.set_filled(before);
                Poll::Ready(Err(io::Error::new(io::ErrorKind::InvalidData, violation)))
            }
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for FramedLimits<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_literal_within_the_limit_is_skipped_whatever_it_holds() {
        let mut scanner = Scanner::new(16, 64);
        // The literal holds braces and line ends: they are data, not framing.
        let body = b"{999999}\r\n\r\nabc";
        assert_eq!(body.len(), 15);
        let mut stream = b"* 1 FETCH (UID 1 BODY[] {15}\r\n".to_vec();
        stream.extend_from_slice(body);
        stream.extend_from_slice(b")\r\nA1 OK done\r\n");
        // Fed one byte at a time, as a trickling server would send it.
        for byte in &stream {
            assert_eq!(scanner.feed(std::slice::from_ref(byte)), Ok(()));
        }
        assert_eq!(
            scanner.position,
            Position::Line {
                len: 0,
                brace: Brace::None
            }
        );
    }

    #[test]
    fn a_literal_over_the_limit_is_refused_when_announced() {
        let mut scanner = Scanner::new(1024, 4096);
        let announcement = b"* 1 FETCH (UID 1 BODY[] {629145600}\r\n";
        assert_eq!(
            scanner.feed(announcement),
            Err(FramingViolation::LiteralTooLarge)
        );
        // Sticky: nothing more is accepted.
        assert_eq!(scanner.feed(b"x"), Err(FramingViolation::LiteralTooLarge));
        // An absurd number of digits saturates instead of wrapping to something small.
        let mut scanner = Scanner::new(1024, 4096);
        assert_eq!(
            scanner.feed(b"* 1 FETCH (BODY[] {99999999999999999999999999}\r\n"),
            Err(FramingViolation::LiteralTooLarge)
        );
    }

    #[test]
    fn a_long_line_is_refused_but_long_literals_do_not_count_as_lines() {
        let mut scanner = Scanner::new(1 << 20, 100);
        assert_eq!(
            scanner.feed(&[b'a'; 101]),
            Err(FramingViolation::LineTooLong)
        );
        let mut scanner = Scanner::new(1 << 20, 100);
        assert_eq!(scanner.feed(b"* 1 FETCH (BODY[] {1000}\r\n"), Ok(()));
        assert_eq!(scanner.feed(&[b'a'; 1000]), Ok(()));
        assert_eq!(scanner.feed(b")\r\n"), Ok(()));
        for _ in 0..50 {
            assert_eq!(scanner.feed(&[b'b'; 99]), Ok(()));
            assert_eq!(scanner.feed(b"\n"), Ok(()));
        }
    }

    #[tokio::test]
    async fn the_stream_fails_with_a_fixed_text_and_hands_on_nothing_of_the_bad_read() {
        use tokio::io::AsyncReadExt;
        let server = b"* OK hi\r\n* 1 FETCH (BODY[] {99999}\r\nSECRET".to_vec();
        let mut stream = FramedLimits::new(std::io::Cursor::new(server), 1000);
        let mut out = Vec::new();
        let error = stream.read_to_end(&mut out).await.err();
        let error = error.map(|e| (FramingViolation::of(&e), e.to_string()));
        assert_eq!(
            error,
            Some((
                Some(FramingViolation::LiteralTooLarge),
                FramingViolation::LiteralTooLarge.to_string()
            ))
        );
        assert!(!String::from_utf8_lossy(&out).contains("SECRET"));
    }
}
