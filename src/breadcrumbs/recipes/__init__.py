"""End-to-end jobs built on the library: the CPU demo, the comparison, the long-reasoning experiment."""
