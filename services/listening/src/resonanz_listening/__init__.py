"""Resonanz listening service: listening queries, mention collection from network plugins, and the
gRPC API internal apps use to stream and search what was collected."""
