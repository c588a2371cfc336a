"""Writing our tasks out in other formats (Harbor), with our evaluation as their verifier."""
