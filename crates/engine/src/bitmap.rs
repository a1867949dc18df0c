//! Bitmap commands on strings (SETBIT, GETBIT).

use crate::Handler;

pub(crate) const HANDLERS: &[(&str, Handler)] = &[];
