//! List commands (LPUSH ... LMPOP; blocking BLPOP ... BLMPOP).

use crate::Handler;

pub(crate) const HANDLERS: &[(&str, Handler)] = &[];
