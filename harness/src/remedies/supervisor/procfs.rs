//! Reading the process table from `/proc` (Linux): states, parents, groups,
//! memory. Read-only; a process that vanishes while it is read is simply
//! absent from the result.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;

/// One process as `/proc/<pid>/stat` describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcInfo {
    /// Process id.
    pub pid: i32,
    /// Parent process id.
    pub ppid: i32,
    /// Process group id.
    pub pgid: i32,
    /// Session id.
    pub sid: i32,
    /// State letter (`R`, `S`, `D`, `Z` for a zombie, …).
    pub state: char,
    /// Start time in clock ticks since boot: with `pid`, it names one
    /// process even if the pid is reused later.
    pub start_ticks: u64,
    /// Resident set size in bytes.
    pub rss_bytes: u64,
    /// Executable name (`comm`, at most 15 bytes).
    pub comm: String,
}

impl ProcInfo {
    /// Whether the process has exited and waits to be reaped.
    pub fn is_zombie(&self) -> bool {
        self.state == 'Z'
    }
}

/// Bytes per page, for the `rss` field of `stat` (in pages): `AT_PAGESZ`
/// from this process's auxiliary vector (4096 if it cannot be read).
fn page_size() -> u64 {
    static PAGE: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *PAGE.get_or_init(|| {
        const AT_PAGESZ: u64 = 6;
        let auxv = fs::read("/proc/self/auxv").unwrap_or_default();
        auxv.chunks_exact(16)
            .filter_map(|pair| {
                let key = u64::from_ne_bytes(pair[..8].try_into().ok()?);
                let value = u64::from_ne_bytes(pair[8..].try_into().ok()?);
                (key == AT_PAGESZ).then_some(value)
            })
            .next()
            .unwrap_or(4096)
    })
}

/// Parses the content of `/proc/<pid>/stat`.
pub fn parse_stat(text: &str, page: u64) -> Option<ProcInfo> {
    let open = text.find('(')?;
    let close = text.rfind(')')?;
    let pid = text[..open].trim().parse().ok()?;
    let comm = text.get(open + 1..close)?.to_owned();
    let fields: Vec<&str> = text.get(close + 1..)?.split_whitespace().collect();
    // After the command: state(0) ppid(1) pgrp(2) session(3) … starttime(19) vsize(20) rss(21).
    Some(ProcInfo {
        pid,
        ppid: fields.get(1)?.parse().ok()?,
        pgid: fields.get(2)?.parse().ok()?,
        sid: fields.get(3)?.parse().ok()?,
        state: fields.first()?.chars().next()?,
        start_ticks: fields.get(19)?.parse().ok()?,
        rss_bytes: fields.get(21)?.parse::<u64>().ok()? * page,
        comm,
    })
}

/// One process, if it exists (zombies included).
pub fn read(pid: i32) -> Option<ProcInfo> {
    let text = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_stat(&text, page_size())
}

/// Every process visible in `/proc`.
pub fn all() -> Vec<ProcInfo> {
    let page = page_size();
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|entry| {
            let name = entry.ok()?.file_name();
            let pid: i32 = name.to_str()?.parse().ok()?;
            let text = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            parse_stat(&text, page)
        })
        .collect()
}

/// The descendants of `root` (not `root` itself) in `table`, parents before
/// children.
pub fn descendants(root: i32, table: &[ProcInfo]) -> Vec<ProcInfo> {
    let mut by_parent: BTreeMap<i32, Vec<&ProcInfo>> = BTreeMap::new();
    for p in table {
        by_parent.entry(p.ppid).or_default().push(p);
    }
    let mut out = Vec::new();
    let mut seen = BTreeSet::from([root]);
    let mut queue = vec![root];
    while let Some(parent) = queue.pop() {
        for child in by_parent.get(&parent).into_iter().flatten() {
            if seen.insert(child.pid) {
                out.push((*child).clone());
                queue.push(child.pid);
            }
        }
    }
    out
}

/// Resident memory of `root` and all its descendants, in bytes; `None` when
/// `root` is gone.
pub fn tree_rss(root: i32) -> Option<u64> {
    let table = all();
    let me = table.iter().find(|p| p.pid == root)?;
    Some(
        me.rss_bytes
            + descendants(root, &table)
                .iter()
                .map(|p| p.rss_bytes)
                .sum::<u64>(),
    )
}

/// Whether `pid`'s environment contains exactly `entry` (`KEY=value`).
/// Zombies have no environment left, so they never match.
pub fn environ_contains(pid: i32, entry: &str) -> bool {
    fs::read(format!("/proc/{pid}/environ"))
        .map(|bytes| bytes.split(|b| *b == 0).any(|e| e == entry.as_bytes()))
        .unwrap_or(false)
}

/// The command line of `pid`, arguments separated by spaces (empty for a
/// zombie).
pub fn cmdline(pid: i32) -> String {
    fs::read(format!("/proc/{pid}/cmdline"))
        .map(|bytes| {
            bytes
                .split(|b| *b == 0)
                .filter(|a| !a.is_empty())
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_lines_parse_even_with_spaces_and_parens_in_the_name() {
        let text = "4242 (a (b) c) S 1 4242 4242 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 777 1000 25 18446744073709551615";
        let p = parse_stat(text, 4096).expect("valid stat line");
        assert_eq!((p.pid, p.ppid, p.pgid, p.sid), (4242, 1, 4242, 4242));
        assert_eq!(p.comm, "a (b) c");
        assert_eq!(p.state, 'S');
        assert_eq!(p.start_ticks, 777);
        assert_eq!(p.rss_bytes, 25 * 4096);
        assert!(parse_stat("garbage", 4096).is_none());
    }

    #[test]
    fn this_process_is_visible_with_its_memory() {
        let me = read(std::process::id() as i32).expect("own stat");
        assert!(me.rss_bytes > 0);
        assert!(tree_rss(me.pid).is_some_and(|rss| rss >= me.rss_bytes));
        assert!(all().iter().any(|p| p.pid == me.pid));
    }
}
