//! The body lane, behind byte-shaped helpers: `read_to_vec` and `write_all` move a body with
//! `read-into` / `write-from`, so only two numbers cross the boundary per piece and the host
//! copies the bytes straight into or out of this guest's memory (docs/guests.md, "The body
//! lane"). The same module is in guests/rust/conformance.

use crate::astrid::http::client::{IncomingResponse, OutgoingBody};
use crate::astrid::http::types::ErrorCode;

/// Room made in the buffer before each `read-into`; the host copies at most this much.
pub const PIECE: usize = 1 << 20;

/// Read the rest of `body` into a `Vec`, `piece` bytes of room at a time (0 counts as 1);
/// `on_piece` sees each piece as it arrives.
pub fn read_to_vec_with(
    body: &IncomingResponse,
    piece: usize,
    mut on_piece: impl FnMut(&[u8]),
) -> Result<Vec<u8>, ErrorCode> {
    let piece = piece.max(1);
    let mut out: Vec<u8> = Vec::new();
    loop {
        out.reserve(piece);
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
