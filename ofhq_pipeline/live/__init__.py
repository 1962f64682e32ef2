"""The live page and its hot path: the `ofhq live serve` web process, its members and sessions."""
