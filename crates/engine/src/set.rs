//! Set commands (SADD ... SSCAN).

use crate::Handler;

pub(crate) const HANDLERS: &[(&str, Handler)] = &[];
