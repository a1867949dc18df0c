//! SORT and SORT_RO.

use crate::Handler;

pub(crate) const HANDLERS: &[(&str, Handler)] = &[];
