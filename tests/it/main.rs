//! The single integration-test binary.

mod emulator;
