//! Geohash encoding (being written for issue 5).
