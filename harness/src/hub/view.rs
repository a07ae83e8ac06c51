//! The hub's record of what it received, and the JSON view of it that
//! `GET /stats` serves and [`fetch_view`](super::fetch_view) reads back.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// What the hub has seen, as served by `GET /stats?prefix=<p>`.
///
/// With a prefix, `clients`, `messages_seen` and `duplicates` cover only the
/// clients whose id starts with it; `connections_open` and
/// `connections_total` always count every WebSocket connection (the hub
/// learns a connection's client id only from its messages).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HubView {
    /// WebSocket connections open now (all clients).
    pub connections_open: u64,
    /// WebSocket connections accepted since the hub started (all clients).
    pub connections_total: u64,
    /// Messages received, duplicates included.
    pub messages_seen: u64,
    /// Messages whose seq the hub already had.
    pub duplicates: u64,
    /// Per client id.
    pub clients: BTreeMap<String, ClientView>,
}

/// What the hub received from one client.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientView {
    /// Distinct seqs received.
    pub received: u64,
    /// Messages whose seq was already received.
    pub duplicates: u64,
    /// Received seqs as sorted, disjoint, non-adjacent inclusive ranges.
    pub ranges: Vec<(u64, u64)>,
}

impl ClientView {
    /// Whether `seq` was received.
    pub fn contains(&self, seq: u64) -> bool {
        // The first range that does not end before `seq` is the only candidate.
        let i = self.ranges.partition_point(|&(_, end)| end < seq);
        self.ranges
            .get(i)
            .is_some_and(|&(start, end)| start <= seq && seq <= end)
    }

    /// Seqs in `1..=upto` that were not received, in order.
    pub fn missing(&self, upto: u64) -> Vec<u64> {
        let mut missing = Vec::new();
        let mut next = 1u64;
        for &(start, end) in &self.ranges {
            if next > upto {
                break;
            }
            missing.extend(next..start.min(upto.saturating_add(1)));
            next = next.max(end.saturating_add(1));
        }
        if next <= upto {
            missing.extend(next..=upto);
        }
        missing
    }
}

/// Received seqs of one client as a set of inclusive ranges (start → end).
#[derive(Debug, Default)]
pub(crate) struct ClientRecord {
    ranges: BTreeMap<u64, u64>,
    received: u64,
    duplicates: u64,
}

impl ClientRecord {
    /// Record `seq`; returns `false` if it was already there (a duplicate).
    pub(crate) fn record(&mut self, seq: u64) -> bool {
        let before = self.ranges.range(..=seq).next_back().map(|(&s, &e)| (s, e));
        if before.is_some_and(|(_, end)| end >= seq) {
            self.duplicates += 1;
            return false;
        }
        let start = match before {
            Some((start, end)) if end.checked_add(1) == Some(seq) => start,
            _ => seq,
        };
        let end = seq
            .checked_add(1)
            .and_then(|after| self.ranges.remove(&after))
            .unwrap_or(seq);
        self.ranges.insert(start, end);
        self.received += 1;
        true
    }

    pub(crate) fn view(&self) -> ClientView {
        ClientView {
            received: self.received,
            duplicates: self.duplicates,
            ranges: self.ranges.iter().map(|(&s, &e)| (s, e)).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(seqs: &[u64]) -> ClientRecord {
        let mut r = ClientRecord::default();
        for &s in seqs {
            r.record(s);
        }
        r
    }

    #[test]
    fn ranges_merge_in_any_order_and_count_duplicates() {
        let r = record(&[5, 1, 3, 2, 7, 2, 6, 9, 5]);
        let v = r.view();
        assert_eq!(v.ranges, vec![(1, 3), (5, 7), (9, 9)]);
        assert_eq!(v.received, 7);
        assert_eq!(v.duplicates, 2);
        let r = record(&[3, 1, 2]);
        assert_eq!(r.view().ranges, vec![(1, 3)]);
    }

    #[test]
    fn missing_and_contains() {
        let v = record(&[2, 3, 6, 9, 10]).view();
        assert_eq!(v.missing(12), vec![1, 4, 5, 7, 8, 11, 12]);
        assert_eq!(v.missing(5), vec![1, 4, 5]);
        assert_eq!(v.missing(0), Vec::<u64>::new());
        assert!(v.contains(2) && v.contains(3) && v.contains(10));
        assert!(!v.contains(1) && !v.contains(4) && !v.contains(11));
        assert_eq!(ClientView::default().missing(3), vec![1, 2, 3]);
    }

    #[test]
    fn extreme_seqs_do_not_overflow() {
        let v = record(&[u64::MAX, u64::MAX - 1, 0]).view();
        assert_eq!(v.ranges, vec![(0, 0), (u64::MAX - 1, u64::MAX)]);
        assert!(v.contains(u64::MAX));
        assert_eq!(v.missing(3), vec![1, 2, 3]);
    }

    #[test]
    fn view_round_trips_through_json() {
        let mut view = HubView {
            connections_open: 1,
            connections_total: 2,
            messages_seen: 3,
            duplicates: 1,
            ..HubView::default()
        };
        view.clients.insert("a".into(), record(&[1, 2, 4]).view());
        let json = serde_json::to_string(&view).expect("serializes");
        assert!(json.contains(r#""ranges":[[1,2],[4,4]]"#), "{json}");
        let back: HubView = serde_json::from_str(&json).expect("parses");
        assert_eq!(back, view);
    }
}
