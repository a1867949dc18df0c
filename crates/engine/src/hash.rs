//! Hash commands (HSET ... HSCAN).

use crate::Handler;

pub(crate) const HANDLERS: &[(&str, Handler)] = &[];
