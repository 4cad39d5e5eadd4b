//! Reading an object as it arrives ([`crate::Store::read_streamed`]): a consumer on a blocking
//! thread gets a `BufRead` over the object's bytes while the network side receives them, so a
//! large object is processed in one pass with a few pieces in memory and never lands on disk.
//! A download that breaks off (or sends fewer bytes than it announced) ends the reader with an
//! error and says so, and the store then runs the whole read again from the start.

use std::io::{BufRead, Read};

use bytes::{Buf, Bytes};

use crate::download::Piece;

/// The object's bytes as they arrive on `rx`.
pub(crate) struct PieceReader {
    rx: tokio::sync::mpsc::Receiver<Piece>,
    current: Bytes,
    received: u64,
    expected: Option<u64>,
    ended: bool,
    broken: Option<String>,
}

impl PieceReader {
    /// `expected`: the length the server announced, when it did.
    pub(crate) fn new(rx: tokio::sync::mpsc::Receiver<Piece>, expected: Option<u64>) -> Self {
        PieceReader { rx, current: Bytes::new(), received: 0, expected, ended: false, broken: None }
    }

    /// Why the download broke off, if the reader saw it break.
    pub(crate) fn broken(self) -> Option<String> {
        self.broken
    }
}

impl BufRead for PieceReader {
    fn fill_buf(&mut self) -> std::io::Result<&[u8]> {
        while self.current.is_empty() && !self.ended {
            if let Some(why) = &self.broken {
                return Err(std::io::Error::other(why.clone()));
            }
            match self.rx.blocking_recv() {
                Some(Piece::Data(b)) => {
                    self.received += b.len() as u64;
                    self.current = b;
                }
                Some(Piece::End) => match self.expected.filter(|n| *n != self.received) {
                    Some(n) => self.broken = Some(format!("the server announced {n} bytes but sent {}", self.received)),
                    None => self.ended = true,
                },
                None => self.broken = Some("the download was broken off".into()),
            }
        }
        Ok(&self.current)
    }

    fn consume(&mut self, amt: usize) {
        self.current.advance(amt.min(self.current.len()));
    }
}

impl Read for PieceReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let data = self.fill_buf()?;
        let n = data.len().min(buf.len());
        buf[..n].copy_from_slice(&data[..n]);
        self.consume(n);
        Ok(n)
    }
}
