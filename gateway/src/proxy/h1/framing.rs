//! Where a message body ends, found while its bytes are forwarded as they are (RFC 9112 §6):
//! nothing is decoded or re-encoded, so a chunked body (its extensions and trailers included)
//! reaches the other side byte for byte.

/// A body's framing, as its message's head declares it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Framing {
    /// No body at all (a request without length headers; a response to `HEAD`, a 204 or a 304).
    Empty,
    /// `Content-Length` bytes.
    Length(u64),
    /// `Transfer-Encoding: chunked`, up to its last chunk and trailer section.
    Chunked,
    /// A response that ends when its connection does.
    UntilClose,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("malformed chunked body: {0}")]
pub(crate) struct ChunkError(&'static str);

/// How much of what arrives still belongs to a body.
#[derive(Debug)]
pub(crate) struct BodyCursor {
    state: State,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// This many bytes of data remain (a length-delimited body, or the current chunk's data).
    Data {
        left: u64,
        chunked: bool,
    },
    /// Reading a chunk-size line: the size so far, and whether a digit was seen.
    Size {
        size: u64,
        digits: bool,
    },
    /// Skipping a chunk extension, up to the line's end.
    Extension {
        size: u64,
    },
    /// After a chunk-size line's CR.
    SizeLf {
        size: u64,
    },
    /// After a chunk's data: its CRLF.
    DataCr,
    DataLf,
    /// At the start of a trailer line (or the final empty line).
    TrailerStart,
    /// Inside a trailer line.
    Trailer,
    /// After the final empty line's CR.
    EndLf,
    /// Until the connection ends.
    UntilClose,
    Done,
}

/// A chunk size past this is refused: no body we forward is that large, and the sum must not
/// overflow.
const MAX_CHUNK: u64 = 1 << 40;

impl BodyCursor {
    pub(crate) fn new(framing: &Framing) -> Self {
        let state = match framing {
            Framing::Empty | Framing::Length(0) => State::Done,
            Framing::Length(n) => State::Data { left: *n, chunked: false },
            Framing::Chunked => State::Size { size: 0, digits: false },
            Framing::UntilClose => State::UntilClose,
        };
        Self { state }
    }

    /// The body has ended: nothing more of the connection belongs to it.
    pub(crate) fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// How many of `input`'s leading bytes belong to the body (all of them, unless it ends
    /// inside `input`).
    pub(crate) fn advance(&mut self, input: &[u8]) -> Result<usize, ChunkError> {
        let mut used = 0;
        while used < input.len() {
            match self.state {
                State::Done => break,
                State::UntilClose => return Ok(input.len()),
                State::Data { left, chunked } => {
                    let take = left.min((input.len() - used) as u64);
                    used += take as usize;
                    let left = left - take;
                    self.state = match (left, chunked) {
                        (0, true) => State::DataCr,
                        (0, false) => State::Done,
                        (left, _) => State::Data { left, chunked },
                    };
                }
                _ => {
                    self.state = self.step(input[used])?;
                    used += 1;
                }
            }
        }
        Ok(used)
    }

    /// One byte of chunk framing.
    fn step(&self, byte: u8) -> Result<State, ChunkError> {
        let next = match (self.state, byte) {
            (State::Size { size, .. }, b) if b.is_ascii_hexdigit() => {
                let size = size * 16 + u64::from((b as char).to_digit(16).expect("a hex digit"));
                if size > MAX_CHUNK {
                    return Err(ChunkError("chunk size too large"));
                }
                State::Size { size, digits: true }
            }
            (State::Size { size, digits: true }, b';' | b' ' | b'\t') => State::Extension { size },
            (State::Size { size, digits: true }, b'\r') => State::SizeLf { size },
            (State::Size { .. }, _) => return Err(ChunkError("bad chunk size")),
            (State::Extension { size }, b'\r') => State::SizeLf { size },
            (State::Extension { .. }, b'\n') => return Err(ChunkError("bare LF in a chunk extension")),
            (State::Extension { size }, _) => State::Extension { size },
            (State::SizeLf { size: 0 }, b'\n') => State::TrailerStart,
            (State::SizeLf { size }, b'\n') => State::Data { left: size, chunked: true },
            (State::DataCr, b'\r') => State::DataLf,
            (State::DataLf, b'\n') => State::Size { size: 0, digits: false },
            (State::TrailerStart, b'\r') => State::EndLf,
            (State::TrailerStart | State::Trailer, b'\n') => State::TrailerStart,
            (State::TrailerStart | State::Trailer, _) => State::Trailer,
            (State::EndLf, b'\n') => State::Done,
            _ => return Err(ChunkError("missing CRLF")),
        };
        Ok(next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed(framing: Framing, pieces: &[&[u8]]) -> Result<(usize, bool), ChunkError> {
        let mut cursor = BodyCursor::new(&framing);
        let mut total = 0;
        for piece in pieces {
            total += cursor.advance(piece)?;
        }
        Ok((total, cursor.is_done()))
    }

    #[test]
    fn a_length_delimited_body_ends_after_its_length_whatever_follows() {
        assert_eq!(feed(Framing::Length(5), &[b"hel", b"lo GET / HTTP/1.1"]), Ok((5, true)));
        assert_eq!(feed(Framing::Length(5), &[b"hel"]), Ok((3, false)));
        assert_eq!(feed(Framing::Empty, &[b"GET /"]), Ok((0, true)));
    }

    #[test]
    fn a_chunked_body_ends_after_its_last_chunk_and_trailers_in_any_split() {
        let body = b"5;ext=1\r\nhello\r\nA\r\n0123456789\r\n0\r\nx-sum: 1\r\n\r\n";
        let mut next = body.to_vec();
        next.extend_from_slice(b"GET /next HTTP/1.1\r\n");
        for split in 0..body.len() {
            let (a, b) = next.split_at(split);
            assert_eq!(feed(Framing::Chunked, &[a, b]), Ok((body.len(), true)), "split at {split}");
        }
        assert_eq!(feed(Framing::Chunked, &[b"0\r\n\r\n"]), Ok((5, true)));
        assert_eq!(feed(Framing::Chunked, &[b"3\r\nab"]), Ok((5, false)));
    }

    #[test]
    fn malformed_chunk_framing_is_refused() {
        assert!(feed(Framing::Chunked, &[b"x\r\n"]).is_err());
        assert!(feed(Framing::Chunked, &[b"\r\n"]).is_err(), "a size line needs a digit");
        assert!(feed(Framing::Chunked, &[b"3\r\nabcX"]).is_err(), "data must end with CRLF");
        assert!(feed(Framing::Chunked, &[b"3\nabc"]).is_err());
        assert!(feed(Framing::Chunked, &[b"fffffffffffffffffff\r\n"]).is_err(), "no overflow");
    }

    #[test]
    fn a_close_delimited_body_takes_everything() {
        let mut cursor = BodyCursor::new(&Framing::UntilClose);
        assert_eq!(cursor.advance(b"anything"), Ok(8));
        assert!(!cursor.is_done());
    }
}
