"""Remote operations: a gRPC service over mutual TLS, its client, and quick-start certificates."""
