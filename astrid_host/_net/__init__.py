"""The network layer: the only place that imports httpcore and opens sockets."""
