//! Plumbing shared by the collection families (lists, hashes, sets, sorted
//! sets): typed lookups that answer WRONGTYPE, create-on-write, and removing a
//! key whose collection became empty (Redis never keeps empty collections).

use keyspace::{Locked, Value};

use crate::error::{CmdError, WRONGTYPE};

/// Picks one collection type out of a value (e.g. `Value::List`).
pub(crate) type Pick<T> = fn(&mut Value) -> Option<&mut T>;

pub(crate) fn list(v: &mut Value) -> Option<&mut types::List> {
    match v {
        Value::List(l) => Some(l),
        _ => None,
    }
}

pub(crate) fn hash(v: &mut Value) -> Option<&mut types::Hash> {
    match v {
        Value::Hash(h) => Some(h),
        _ => None,
    }
}

pub(crate) fn set(v: &mut Value) -> Option<&mut types::Set> {
    match v {
        Value::Set(s) => Some(s),
        _ => None,
    }
}

pub(crate) fn zset(v: &mut Value) -> Option<&mut types::ZSet> {
    match v {
        Value::ZSet(z) => Some(z),
        _ => None,
    }
}

/// The collection at `key` (reading: counts a hit or miss), None if absent,
/// WRONGTYPE if the key holds another type.
pub(crate) fn read<'l, T>(
    l: &'l mut Locked,
    db: usize,
    key: &[u8],
    pick: Pick<T>,
) -> Result<Option<&'l mut T>, CmdError> {
    match l.get(db, key) {
        None => Ok(None),
        Some(e) => pick(&mut e.value).map(Some).ok_or(WRONGTYPE),
    }
}

/// Like [`read`] for commands that write (no hit/miss counting).
pub(crate) fn write<'l, T>(
    l: &'l mut Locked,
    db: usize,
    key: &[u8],
    pick: Pick<T>,
) -> Result<Option<&'l mut T>, CmdError> {
    match l.get_mut_if(db, key, |e| pick(&mut e.value).is_some()) {
        None => Ok(None),
        Some(Ok(e)) => pick(&mut e.value).map(Some).ok_or(WRONGTYPE),
        Some(Err(())) => Err(WRONGTYPE),
    }
}

/// Like [`read`] for a further pass over a key the command already read
/// (no hit/miss counting, not a write).
pub(crate) fn peek<'l, T>(
    l: &'l mut Locked,
    db: usize,
    key: &[u8],
    pick: Pick<T>,
) -> Result<Option<&'l mut T>, CmdError> {
    match l.peek(db, key) {
        None => Ok(None),
        Some(e) => pick(&mut e.value).map(Some).ok_or(WRONGTYPE),
    }
}

/// The collection at `key`, created empty (with `make`) if the key is absent.
pub(crate) fn write_or_create<'l, T>(
    l: &'l mut Locked,
    db: usize,
    key: &[u8],
    pick: Pick<T>,
    make: fn() -> Value,
) -> Result<&'l mut T, CmdError> {
    match l.get_mut_if(db, key, |e| pick(&mut e.value).is_some()) {
        Some(Err(())) => return Err(WRONGTYPE),
        Some(Ok(_)) => {}
        None => l.set(db, key, make(), 0),
    }
    let e = l
        .peek(db, key)
        .ok_or_else(|| CmdError::new("ERR internal: key vanished under its lock"))?;
    pick(&mut e.value).ok_or(WRONGTYPE)
}

/// Deletes `key` if it holds an empty collection. Returns true if deleted.
pub(crate) fn remove_if_empty(l: &mut Locked, db: usize, key: &[u8]) -> bool {
    let empty = l
        .peek(db, key)
        .is_some_and(|e| e.value.is_empty_collection());
    if empty {
        l.remove(db, key);
    }
    empty
}
