//! A Redis set: an intset while all members are small integers, a listpack while small, a hash table beyond.

/// A Redis set: an intset while all members are small integers, a listpack while small, a hash table beyond.
#[derive(Debug, Clone, Default)]
pub struct Set {
    len: usize,
}

impl Set {
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
