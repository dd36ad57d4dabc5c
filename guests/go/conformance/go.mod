// The module name is the one `wit-bindgen go` gives the bindings it generates next to this
// code at build time (scripts/build_guests.py); the generated packages are not committed.
// go 1.25 because go.bytecodealliance.org/pkg says so: a Go 1.24 toolchain fetches go1.25
// through the Go module proxy (GOTOOLCHAIN=auto).
module wit_component

go 1.25

require go.bytecodealliance.org/pkg v0.2.1
