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
//   - write-after-finish writes one byte (0x78) after finish, whatever finish returned;
//   - upload-then-stream uploads like upload-pattern (chunk == 0 as 1) and reads the response
//     with read(chunk) (also at least 1), counting and hashing like stream-all;
//   - meta-after reads like drop-early with chunk 65536, then asks for meta().
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
	metaAfterChunk    uint32 = 65536
)

type (
	response     = types.Response
	responseMeta = types.ResponseMeta
	errorCode    = types.ErrorCode
	streamReport = tests.StreamReport
)

func fnv1a64(hash uint64, data []byte) uint64 {
	for _, b := range data {
		hash ^= uint64(b)
		hash *= fnvPrime
	}
	return hash
}

// readReport reads stream to the end with read(chunk): what stream-all reports. On failure it
// returns the error-code and false.
func readReport(stream *client.IncomingResponse, chunk uint32) (streamReport, errorCode, bool) {
	report := streamReport{
		Status:      stream.Status(),
		HeaderCount: uint32(len(stream.Headers())),
		Fnv1a64:     fnvOffset,
	}
	for {
		r := stream.Read(chunk)
		if r.IsErr() {
			return report, r.Err(), false
		}
		piece := r.Ok()
		if piece.IsNone() {
			return report, errorCode{}, true
		}
		data := piece.Some()
		if len(data) > 0 {
			report.Chunks++
		}
		report.TotalBytes += uint64(len(data))
		report.Fnv1a64 = fnv1a64(report.Fnv1a64, data)
		received(len(data))
	}
}

// readAbout reads pieces of at most chunk bytes until readBytes or more (or the end); returns
// the bytes read, or the error-code and false.
func readAbout(stream *client.IncomingResponse, readBytes uint64, chunk uint32) (uint64, errorCode, bool) {
	var total uint64
	for total < readBytes {
		want := readBytes - total
		if want > uint64(chunk) {
			want = uint64(chunk)
		}
		r := stream.Read(uint32(want))
		if r.IsErr() {
			return total, r.Err(), false
		}
		if r.Ok().IsNone() {
			break
		}
		n := len(r.Ok().Some())
		total += uint64(n)
		received(n)
	}
	return total, errorCode{}, true
}

// writePattern writes totalBytes bytes (byte i = i % 251) in pieces of chunk bytes (0 counts
// as 1); returns the first write's error-code and false on failure.
func writePattern(body *client.OutgoingBody, totalBytes uint64, chunk uint32) (errorCode, bool) {
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
			return w.Err(), false
		}
		offset += n
	}
	return errorCode{}, true
}

// Fetch is client.send as given; the response comes back unchanged.
func Fetch(req types.Request) witTypes.Result[response, errorCode] {
	begin()
	return client.Send(req)
}

// StreamAll is client.start, then read(chunk) until none, hashing as it goes.
func StreamAll(req types.Request, chunk uint32) witTypes.Result[streamReport, errorCode] {
	begin()
	started := client.Start(req)
	if started.IsErr() {
		return witTypes.Err[streamReport](started.Err())
	}
	stream := started.Ok()
	defer stream.Drop()
	report, e, ok := readReport(stream, chunk)
	if !ok {
		return witTypes.Err[streamReport](e)
	}
	return witTypes.Ok[streamReport, errorCode](report)
}

// DropEarly is client.start, read about readBytes, then drop the stream; returns bytes read.
func DropEarly(req types.Request, readBytes uint64, chunk uint32) witTypes.Result[uint64, errorCode] {
	begin()
	started := client.Start(req)
	if started.IsErr() {
		return witTypes.Err[uint64](started.Err())
	}
	stream := started.Ok()
	defer stream.Drop()
	total, e, ok := readAbout(stream, readBytes, chunk)
	if !ok {
		return witTypes.Err[uint64](e)
	}
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
	if e, ok := writePattern(body, totalBytes, chunk); !ok {
		return witTypes.Err[response](e)
	}
	return body.Finish()
}

// UploadThenStream uploads totalBytes bytes like UploadPattern, then finish-streaming, and
// reads the response to the end like StreamAll (with read(chunk), chunk 0 counting as 1).
func UploadThenStream(req types.Request, totalBytes uint64, chunk uint32) witTypes.Result[streamReport, errorCode] {
	begin()
	started := client.Upload(req)
	if started.IsErr() {
		return witTypes.Err[streamReport](started.Err())
	}
	body := started.Ok()
	defer body.Drop()
	if e, ok := writePattern(body, totalBytes, chunk); !ok {
		return witTypes.Err[streamReport](e)
	}
	finished := body.FinishStreaming()
	if finished.IsErr() {
		return witTypes.Err[streamReport](finished.Err())
	}
	stream := finished.Ok()
	defer stream.Drop()
	if chunk == 0 {
		chunk = 1
	}
	report, e, ok := readReport(stream, chunk)
	if !ok {
		return witTypes.Err[streamReport](e)
	}
	return witTypes.Ok[streamReport, errorCode](report)
}

// MetaAfter is client.start, read about readBytes (pieces of at most 65536 bytes), then the
// stream's meta().
func MetaAfter(req types.Request, readBytes uint64) witTypes.Result[responseMeta, errorCode] {
	begin()
	started := client.Start(req)
	if started.IsErr() {
		return witTypes.Err[responseMeta](started.Err())
	}
	stream := started.Ok()
	defer stream.Drop()
	if _, e, ok := readAbout(stream, readBytes, metaAfterChunk); !ok {
		return witTypes.Err[responseMeta](e)
	}
	return witTypes.Ok[responseMeta, errorCode](stream.Meta())
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
