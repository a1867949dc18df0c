//! Stream storage (being written for issue 5).
