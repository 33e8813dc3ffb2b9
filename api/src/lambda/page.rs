//! Lambda's paging: `Marker` and `MaxItems` in, `NextMarker` out. A marker is the last key of
//! the page before, base64url-encoded (opaque to callers), and the next page starts strictly
//! after it, so functions created or deleted between pages never make a page repeat or skip
//! one that stayed.

use super::field_error;
use crate::error::Invalid;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;

/// Lambda returns at most 50 items a page, whatever `MaxItems` asks.
pub const MAX_PAGE: usize = 50;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PageRequest {
    /// The key the previous page ended at.
    after: Option<String>,
    size: usize,
}

impl PageRequest {
    /// From the query's `Marker` and `MaxItems`.
    pub fn parse(marker: Option<&str>, max_items: Option<&str>) -> Result<Self, Invalid> {
        let size = match max_items {
            None => MAX_PAGE,
            Some(m) => match m.parse::<usize>() {
                Ok(n) if (1..=10_000).contains(&n) => n.min(MAX_PAGE),
                _ => return Err(field_error("MaxItems", format!("{m:?} must be a number from 1 to 10000"))),
            },
        };
        let after = match marker.filter(|m| !m.is_empty()) {
            None => None,
            Some(m) => {
                let bytes = URL_SAFE_NO_PAD.decode(m).map_err(|_| field_error("Marker", "is not a marker this API returned"))?;
                Some(String::from_utf8(bytes).map_err(|_| field_error("Marker", "is not a marker this API returned"))?)
            }
        };
        Ok(Self { after, size })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_marker: Option<String>,
}

impl PageRequest {
    /// The page of `items` (sorted by `key`, ascending, keys unique) this request asks for.
    pub fn take<T>(&self, items: Vec<T>, key: impl Fn(&T) -> String) -> Page<T> {
        let mut rest: Vec<T> = items.into_iter().filter(|i| self.after.as_ref().is_none_or(|a| key(i) > *a)).collect();
        let more = rest.len() > self.size;
        rest.truncate(self.size);
        let next_marker = match (more, rest.last()) {
            (true, Some(last)) => Some(URL_SAFE_NO_PAD.encode(key(last))),
            _ => None,
        };
        Page { items: rest, next_marker }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_follow_each_other_without_repeats_and_cap_at_fifty() {
        let names: Vec<String> = (0..120).map(|i| format!("f{i:03}")).collect();
        let first = PageRequest::parse(None, Some("100")).unwrap().take(names.clone(), Clone::clone);
        assert_eq!(first.items.len(), 50);
        let second = PageRequest::parse(first.next_marker.as_deref(), None).unwrap().take(names.clone(), Clone::clone);
        assert_eq!(second.items[0], "f050");
        let third = PageRequest::parse(second.next_marker.as_deref(), None).unwrap().take(names.clone(), Clone::clone);
        assert_eq!((third.items.len(), third.next_marker), (20, None));
        let exact = PageRequest::parse(None, Some("120")).unwrap().take(names[..50].to_vec(), Clone::clone);
        assert_eq!(exact.next_marker, None, "no marker when nothing follows");
        assert!(PageRequest::parse(None, Some("0")).is_err());
        assert!(PageRequest::parse(Some("%%%"), None).is_err());
    }
}
