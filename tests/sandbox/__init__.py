"""The sandbox backends: one conformance suite over every backend, then what is particular to each."""
