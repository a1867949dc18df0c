//! A Redis list: a listpack while small, a quicklist (a deque of listpack nodes) beyond `list-max-listpack-size`.

/// A Redis list: a listpack while small, a quicklist (a deque of listpack nodes) beyond `list-max-listpack-size`.
#[derive(Debug, Clone, Default)]
pub struct List {
    len: usize,
}

impl List {
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
