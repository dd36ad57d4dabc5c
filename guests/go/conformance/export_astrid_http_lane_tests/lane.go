// Package export_astrid_http_lane_tests implements astrid:http/lane-tests (wit/worlds.wit,
// world conformance-lane): the conformance work moved through the body lane. ReadToSlice,
// WriteAll and WriteOutput (the call's output, astrid:http/output) are the helpers a Go
// capsule copies: the host copies body bytes straight into or
// out of a slice's backing array (read-into / write-from), so only two numbers cross the
// boundary per piece. Go's garbage collector does not move objects, and the host writes only
// inside the range it is given, while this guest is paused in the call. Automatic GC is off in
// this guest (see ../export_astrid_http_conformance_tests/gc.go): each export collects first.
package export_astrid_http_lane_tests

import (
	"runtime"
	"unsafe"

	witTypes "go.bytecodealliance.org/pkg/wit/types"

	client "wit_component/astrid_http_client"
	tests "wit_component/astrid_http_conformance_tests"
	output "wit_component/astrid_http_output"
	types "wit_component/astrid_http_types"
)

const (
	fnvOffset      uint64 = 0xcbf29ce484222325
	fnvPrime       uint64 = 0x100000001b3
	patternModulus        = 251
	// piece is the room made in the slice before each read-into.
	piece = 1 << 20
)

type (
	response     = types.Response
	errorCode    = types.ErrorCode
	streamReport = tests.StreamReport
)

// address is the guest-memory address of data's first byte (wasm32: pointers are 32 bits).
func address(data []byte) uint32 {
	if cap(data) == 0 {
		return 0
	}
	return uint32(uintptr(unsafe.Pointer(unsafe.SliceData(data))))
}

// ReadToSlice reads the rest of stream into one slice, up to step bytes of room at a time
// (0 counts as 1); onPiece sees each piece. On failure it returns the error-code and false.
func ReadToSlice(stream *client.IncomingResponse, step int, onPiece func([]byte)) ([]byte, errorCode, bool) {
	if step < 1 {
		step = 1
	}
	out := make([]byte, 0, step)
	for {
		if cap(out)-len(out) < step {
			grown := make([]byte, len(out), 2*cap(out)+step)
			copy(grown, out)
			out = grown
		}
		room := out[len(out):cap(out)]
		if len(room) > step {
			room = room[:step]
		}
		r := stream.ReadInto(address(room), uint32(len(room)))
		if r.IsErr() {
			return out, r.Err(), false
		}
		n := int(r.Ok())
		if n == 0 {
			return out, errorCode{}, true
		}
		out = out[:len(out)+n]
		onPiece(out[len(out)-n:])
	}
}

// WriteAll appends all of data to body in one call; the host copies it out of this memory.
func WriteAll(body *client.OutgoingBody, data []byte) (errorCode, bool) {
	w := body.WriteFrom(address(data), uint32(len(data)))
	if w.IsErr() {
		return w.Err(), false
	}
	return errorCode{}, true
}

// WriteOutput appends all of data to the call's output in one call (output.write-from); the
// host copies it out of this memory. It fails when the host did not ask this call for output
// or past the output limit.
func WriteOutput(data []byte) (errorCode, bool) {
	w := output.WriteFrom(address(data), uint32(len(data)))
	if w.IsErr() {
		return w.Err(), false
	}
	return errorCode{}, true
}

func fnv1a64(hash uint64, data []byte) uint64 {
	for _, b := range data {
		hash ^= uint64(b)
		hash *= fnvPrime
	}
	return hash
}

// startAndRead is client.start, then read-into pieces of at most step bytes into one slice
// until the end: the report without its hash, and the body.
func startAndRead(req types.Request, step int) (streamReport, []byte, errorCode, bool) {
	started := client.Start(req)
	if started.IsErr() {
		return streamReport{}, nil, started.Err(), false
	}
	stream := started.Ok()
	defer stream.Drop()
	report := streamReport{Status: stream.Status(), HeaderCount: uint32(len(stream.Headers()))}
	body, e, ok := ReadToSlice(stream, step, func([]byte) { report.Chunks++ })
	report.TotalBytes = uint64(len(body))
	return report, body, e, ok
}

// StreamAllLane is client.start, then read-into pieces of at most chunk bytes into one slice
// until the end, counted and hashed like stream-all.
func StreamAllLane(req types.Request, chunk uint32) witTypes.Result[streamReport, errorCode] {
	runtime.GC()
	report, body, e, ok := startAndRead(req, int(chunk))
	if !ok {
		return witTypes.Err[streamReport](e)
	}
	report.Fnv1a64 = fnv1a64(fnvOffset, body)
	return witTypes.Ok[streamReport, errorCode](report)
}

// FetchToOutput reads req's body with read-into and hands all of it to the host with one
// output.write-from; the report's hash is 0 (the host checks the bytes it receives).
func FetchToOutput(req types.Request) witTypes.Result[streamReport, errorCode] {
	runtime.GC()
	report, body, e, ok := startAndRead(req, piece)
	if ok {
		e, ok = WriteOutput(body)
	}
	if !ok {
		return witTypes.Err[streamReport](e)
	}
	return witTypes.Ok[streamReport, errorCode](report)
}

// UploadPatternLane uploads totalBytes bytes (byte i = i % 251) with one write-from, then
// finishes.
func UploadPatternLane(req types.Request, totalBytes uint64) witTypes.Result[response, errorCode] {
	runtime.GC()
	data := make([]byte, totalBytes)
	for i := range data {
		data[i] = byte(i % patternModulus)
	}
	return upload(req, data)
}

// RelayLane reads src's body with read-into and uploads it unchanged to dst with write-from.
func RelayLane(src types.Request, dst types.Request) witTypes.Result[response, errorCode] {
	runtime.GC()
	started := client.Start(src)
	if started.IsErr() {
		return witTypes.Err[response](started.Err())
	}
	stream := started.Ok()
	defer stream.Drop()
	data, e, ok := ReadToSlice(stream, piece, func([]byte) {})
	if !ok {
		return witTypes.Err[response](e)
	}
	return upload(dst, data)
}

func upload(req types.Request, data []byte) witTypes.Result[response, errorCode] {
	started := client.Upload(req)
	if started.IsErr() {
		return witTypes.Err[response](started.Err())
	}
	body := started.Ok()
	defer body.Drop()
	if e, ok := WriteAll(body, data); !ok {
		return witTypes.Err[response](e)
	}
	return body.Finish()
}
