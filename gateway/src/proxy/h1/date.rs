//! The `Date` a proxy adds to an answer that has none (RFC 9110 §6.6.1: a recipient with a
//! clock that forwards a response without `Date` must add one), formatted once a second per
//! thread rather than once per answer.

use std::cell::RefCell;
use std::time::{SystemTime, UNIX_EPOCH};

thread_local! {
    static CACHED: RefCell<(u64, String)> = const { RefCell::new((0, String::new())) };
}

/// Now, as an HTTP date (`Sun, 06 Nov 1994 08:49:37 GMT`).
pub(crate) fn now() -> String {
    let now = SystemTime::now();
    let second = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    CACHED.with(|cached| {
        let mut cached = cached.borrow_mut();
        if cached.0 != second {
            *cached = (second, httpdate::fmt_http_date(now));
        }
        cached.1.clone()
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_date_is_an_http_date_of_now() {
        let date = super::now();
        let parsed = httpdate::parse_http_date(&date).expect("an HTTP date");
        let age = std::time::SystemTime::now().duration_since(parsed).unwrap_or_default();
        assert!(age < std::time::Duration::from_secs(2), "{date}");
    }
}
