//! Support for the end-to-end tests: where the test servers listen, and helpers to talk to them.
