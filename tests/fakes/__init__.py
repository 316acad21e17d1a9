"""Fakes that speak the carriers' real protocols over real sockets, started by the tests."""
