"""The wasm layer: the only place that imports wasmtime."""
