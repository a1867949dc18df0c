//! Sorted-set commands (ZADD ... ZSCAN; blocking BZPOPMIN/BZPOPMAX/BZMPOP).

use crate::Handler;

pub(crate) const HANDLERS: &[(&str, Handler)] = &[];
