//! HyperLogLog representations (being written for issue 5).
