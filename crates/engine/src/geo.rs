//! geo commands (being written for issue 5).

use crate::Handler;

pub(crate) const HANDLERS: &[(&str, Handler)] = &[];
