// Package export_astrid_http_conformance_tests is the Go conformance guest: it implements
// astrid:http/conformance-tests (wit/worlds.wit) by driving the astrid:http/client imports
// exactly as the doc comments say, so that the host test suite can compare what a Go guest
// sees with what the Python and Rust guests see.
//
// The package name is fixed by `wit-bindgen go`, which generates the bindings
// (wit_component/astrid_http_client, ..._types, ..._conformance_tests and the exported entry
// points) next to this file at build time; see scripts/build_guests.py and docs/guests.md.
//
// Shared conventions (identical in every guest language, see docs/guests.md):
//   - upload-pattern treats chunk == 0 as 1 (a zero-sized piece would never finish);
//   - drop-early reads pieces of at most chunk bytes until it has read-bytes or more;
//   - read-after-end reads with pieces of 65536 bytes;
//   - write-after-finish writes one byte (0x78) after finish, whatever finish returned.
package export_astrid_http_conformance_tests

import (
	witTypes "go.bytecodealliance.org/pkg/wit/types"

	client "wit_component/astrid_http_client"
	tests "wit_component/astrid_http_conformance_tests"
	types "wit_component/astrid_http_types"
)

const (
	fnvOffset         uint64 = 0xcbf29ce484222325
	fnvPrime          uint64 = 0x100000001b3
	patternModulus           = 251
	readAfterEndChunk uint32 = 65536
)

type (
	response  = types.Response
	errorCode = types.ErrorCode
)

func fnv1a64(hash uint64, data []byte) uint64 {
	for _, b := range data {
		hash ^= uint64(b)
		hash *= fnvPrime
	}
	return hash
}

// Fetch is client.send as given; the response comes back unchanged.
func Fetch(req types.Request) witTypes.Result[response, errorCode] {
	begin()
	return client.Send(req)
}

// StreamAll is client.start, then read(chunk) until none, hashing as it goes.
func StreamAll(req types.Request, chunk uint32) witTypes.Result[tests.StreamReport, errorCode] {
	begin()
	started := client.Start(req)
	if started.IsErr() {
		return witTypes.Err[tests.StreamReport](started.Err())
	}
	stream := started.Ok()
	defer stream.Drop()
	report := tests.StreamReport{
		Status:      stream.Status(),
		HeaderCount: uint32(len(stream.Headers())),
		Fnv1a64:     fnvOffset,
	}
	for {
		r := stream.Read(chunk)
		if r.IsErr() {
			return witTypes.Err[tests.StreamReport](r.Err())
		}
		piece := r.Ok()
		if piece.IsNone() {
			break
		}
		data := piece.Some()
		if len(data) > 0 {
			report.Chunks++
		}
		report.TotalBytes += uint64(len(data))
		report.Fnv1a64 = fnv1a64(report.Fnv1a64, data)
		received(len(data))
	}
	return witTypes.Ok[tests.StreamReport, errorCode](report)
}

// DropEarly is client.start, read about readBytes, then drop the stream; returns bytes read.
func DropEarly(req types.Request, readBytes uint64, chunk uint32) witTypes.Result[uint64, errorCode] {
	begin()
	started := client.Start(req)
	if started.IsErr() {
		return witTypes.Err[uint64](started.Err())
	}
	stream := started.Ok()
	var total uint64
	for total < readBytes {
		want := readBytes - total
		if want > uint64(chunk) {
			want = uint64(chunk)
		}
		r := stream.Read(uint32(want))
		if r.IsErr() {
			stream.Drop()
			return witTypes.Err[uint64](r.Err())
		}
		if r.Ok().IsNone() {
			break
		}
		n := len(r.Ok().Some())
		total += uint64(n)
		received(n)
	}
	stream.Drop()
	return witTypes.Ok[uint64, errorCode](total)
}

// UploadPattern uploads totalBytes bytes where byte i is i % 251, in pieces of chunk bytes,
// then finishes.
func UploadPattern(req types.Request, totalBytes uint64, chunk uint32) witTypes.Result[response, errorCode] {
	begin()
	started := client.Upload(req)
	if started.IsErr() {
		return witTypes.Err[response](started.Err())
	}
	body := started.Ok()
	defer body.Drop()
	step := uint64(chunk)
	if step == 0 {
		step = 1
	}
	window := step
	if window > totalBytes {
		window = totalBytes
	}
	// One buffer long enough that any piece is a slice of it starting at offset % 251.
	pattern := make([]byte, window+patternModulus)
	for i := range pattern {
		pattern[i] = byte(i % patternModulus)
	}
	for offset := uint64(0); offset < totalBytes; {
		n := totalBytes - offset
		if n > step {
			n = step
		}
		start := offset % patternModulus
		if w := body.Write(pattern[start : start+n]); w.IsErr() {
			return witTypes.Err[response](w.Err())
		}
		offset += n
	}
	return body.Finish()
}

// OpenMany opens count streams and keeps them all open until every attempt is made; returns
// each attempt's outcome (ok = status). All are dropped on return.
func OpenMany(req types.Request, count uint32) []witTypes.Result[uint16, errorCode] {
	begin()
	outcomes := make([]witTypes.Result[uint16, errorCode], 0, count)
	open := make([]*client.IncomingResponse, 0, count)
	for i := uint32(0); i < count; i++ {
		r := client.Start(req)
		if r.IsErr() {
			outcomes = append(outcomes, witTypes.Err[uint16](r.Err()))
			continue
		}
		open = append(open, r.Ok())
		outcomes = append(outcomes, witTypes.Ok[uint16, errorCode](r.Ok().Status()))
	}
	for _, stream := range open {
		stream.Drop()
	}
	return outcomes
}

// ReadAfterEnd reads a stream to the end, then reads again; returns the extra read's outcome.
func ReadAfterEnd(req types.Request) witTypes.Result[witTypes.Option[[]uint8], errorCode] {
	begin()
	started := client.Start(req)
	if started.IsErr() {
		return witTypes.Err[witTypes.Option[[]uint8]](started.Err())
	}
	stream := started.Ok()
	defer stream.Drop()
	for {
		r := stream.Read(readAfterEndChunk)
		if r.IsErr() {
			return r
		}
		if r.Ok().IsNone() {
			break
		}
		received(len(r.Ok().Some()))
	}
	return stream.Read(readAfterEndChunk)
}

// WriteAfterFinish finishes an upload, then writes again; returns the outcome of the write.
func WriteAfterFinish(req types.Request) witTypes.Result[witTypes.Unit, errorCode] {
	begin()
	started := client.Upload(req)
	if started.IsErr() {
		return witTypes.Err[witTypes.Unit](started.Err())
	}
	body := started.Ok()
	defer body.Drop()
	_ = body.Finish()
	return body.Write([]byte("x"))
}
