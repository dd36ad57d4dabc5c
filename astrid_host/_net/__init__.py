"""The network layer: the only place that imports httpcore and trio's socket API."""
