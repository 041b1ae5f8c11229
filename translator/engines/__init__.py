"""The I/O side of each engine, behind one Protocol (see engines.base)."""
