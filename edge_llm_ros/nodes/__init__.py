"""One module per node: each wires a component to topics and parameters and does no math."""
