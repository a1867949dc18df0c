//! A Redis hash: a listpack of field/value pairs while small, a hash table beyond `hash-max-listpack-*`.

/// A Redis hash: a listpack of field/value pairs while small, a hash table beyond `hash-max-listpack-*`.
#[derive(Debug, Clone, Default)]
pub struct Hash {
    len: usize,
}

impl Hash {
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
