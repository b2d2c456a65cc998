//! Dispatch: which topic and partition each event goes to.
