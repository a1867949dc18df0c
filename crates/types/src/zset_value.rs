//! A Redis sorted set value: a listpack of member/score pairs while small, the
//! skiplist ([`crate::zset::SortedSet`]) beyond `zset-max-listpack-*`.

/// A Redis sorted set value: a listpack of member/score pairs while small, the
/// skiplist beyond `zset-max-listpack-*`.
#[derive(Debug, Clone, Default)]
pub struct ZSet {
    len: usize,
}

impl ZSet {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The name OBJECT ENCODING prints.
    pub fn encoding(&self) -> &'static str {
        "listpack"
    }
}
