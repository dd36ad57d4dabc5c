//! The body lane, behind byte-shaped helpers: `read_to_vec` and `write_all` move a body with
//! `read-into` / `write-from`, and `output::write_all` hands the host the call's output with
//! `output.write-from`, so only two numbers cross the boundary per piece and the host copies
//! the bytes straight into or out of this guest's memory (docs/guests.md, "The body lane").
//! The conformance guest (guests/rust/conformance) builds this same file.

use crate::astrid::http::client::{IncomingResponse, OutgoingBody};
use crate::astrid::http::types::ErrorCode;

/// Room made in the buffer before each `read-into`; the host copies at most this much.
pub const PIECE: usize = 1 << 20;

/// Read the rest of `body` into a `Vec`, `piece` bytes of room at a time (0 counts as 1);
/// `on_piece` sees each piece as it arrives.
pub fn read_to_vec_with(
    body: &IncomingResponse,
    piece: usize,
    on_piece: impl FnMut(&[u8]),
) -> Result<Vec<u8>, ErrorCode> {
    read_onto(body, Vec::new(), piece, on_piece)
}

/// Read the rest of `body` onto the end of `out`: its spare capacity is filled first, and
/// `piece` bytes of room (0 counts as 1) are made only when it is full, so a `Vec` made with
/// room for the whole body and one byte more is never moved.
pub fn read_onto(
    body: &IncomingResponse,
    mut out: Vec<u8>,
    piece: usize,
    mut on_piece: impl FnMut(&[u8]),
) -> Result<Vec<u8>, ErrorCode> {
    let piece = piece.max(1);
    loop {
        if out.len() == out.capacity() {
            out.reserve(piece);
        }
        let len = out.len();
        let room = (out.capacity() - len).min(piece) as u32;
        // The spare capacity of `out`: `room` bytes at `ptr`, inside this guest's memory.
        let ptr = out.as_mut_ptr().wrapping_add(len) as usize as u32;
        let n = body.read_into(ptr, room)? as usize;
        if n == 0 {
            return Ok(out);
        }
        // SAFETY: the host wrote exactly `n <= room` initialised bytes at `ptr`.
        unsafe { out.set_len(len + n) };
        on_piece(&out[len..]);
    }
}

/// Read the rest of `body` into a `Vec`.
pub fn read_to_vec(body: &IncomingResponse) -> Result<Vec<u8>, ErrorCode> {
    read_to_vec_with(body, PIECE, |_| {})
}

/// Append all of `data` to `body` in one call; the host copies it out of this memory.
pub fn write_all(body: &OutgoingBody, data: &[u8]) -> Result<(), ErrorCode> {
    body.write_from(data.as_ptr() as usize as u32, data.len() as u32)
}

/// The call's output (`astrid:http/output`): a body handed to the host beside the result.
pub mod output {
    use crate::astrid::http::output as host;
    use crate::astrid::http::types::ErrorCode;

    /// Append all of `data` to the call's output in one call; the host copies it out of this
    /// memory. Fails when the host did not ask this call for output or past its limit.
    pub fn write_all(data: &[u8]) -> Result<(), ErrorCode> {
        host::write_from(data.as_ptr() as usize as u32, data.len() as u32)
    }
}
