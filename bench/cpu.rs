//! CPU seconds spent by the service's processes, read from `/proc`: accredito, PostgreSQL and
//! RabbitMQ, each a sum over every process of that name. A process's own time plus the time
//! of its children that have exited (`cutime`, `cstime`), so a PostgreSQL backend that ends
//! during the run is still counted, in the postmaster. Linux only.
//!
//! On a machine where other work uses the same servers, point the bench at servers of its own
//! and name their root processes: `ACCREDITO_BENCH_POSTGRES_PID` (the postmaster) and
//! `ACCREDITO_BENCH_RABBITMQ_PID` (the node's `beam.smp`) restrict each group to that process
//! and its descendants (`bench/private-servers.sh` starts both and prints the variables), and
//! `ACCREDITO_BENCH_ACCREDITO_PID` the accredito group to the server measured (`compare.sh`
//! sets it).

use std::collections::BTreeMap;

use serde_json::{Value, json};

/// `/proc/<pid>/stat` counts in USER_HZ, which the kernel's ABI fixes at 100 on Linux.
const TICKS_PER_SECOND: f64 = 100.0;

/// The processes measured: the name of their group and the command names (`comm`) in it.
const GROUPS: [(&str, &[&str]); 3] = [
    ("accredito", &["accredito"]),
    ("postgresql", &["postgres"]),
    ("rabbitmq", &["beam.smp", "erl_child_setup", "epmd"]),
];

/// Ticks per process (pid), with the group each belongs to, at one moment.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    ticks: BTreeMap<u32, (&'static str, u64)>,
}

impl Snapshot {
    pub fn take() -> Snapshot {
        let mut ticks = BTreeMap::new();
        let mut parents = BTreeMap::new();
        let Ok(entries) = std::fs::read_dir("/proc") else {
            return Snapshot::default();
        };
        for entry in entries.flatten() {
            let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|s| s.parse::<u32>().ok())
            else {
                continue;
            };
            let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
                continue;
            };
            if let Some(ppid) = parse_ppid(&stat) {
                parents.insert(pid, ppid);
            }
            if let Some((group, used)) = parse_stat(&stat) {
                ticks.insert(pid, (group, used));
            }
        }
        for (group, variable) in ROOT_VARIABLES {
            let Some(root) = std::env::var(variable)
                .ok()
                .and_then(|v| v.parse::<u32>().ok())
            else {
                continue;
            };
            ticks.retain(|pid, (g, _)| *g != group || descends_from(*pid, root, &parents));
        }
        Snapshot { ticks }
    }

    /// CPU seconds per group between `self` and a later snapshot. A process gone by then is
    /// counted in its parent's `cutime`; one that started since counts from zero.
    pub fn seconds_until(&self, later: &Snapshot) -> BTreeMap<&'static str, f64> {
        let mut seconds: BTreeMap<&'static str, f64> =
            GROUPS.iter().map(|(group, _)| (*group, 0.0)).collect();
        for (pid, (group, after)) in &later.ticks {
            let before = match self.ticks.get(pid) {
                Some((same, before)) if same == group => *before,
                _ => 0,
            };
            *seconds.entry(group).or_default() +=
                after.saturating_sub(before) as f64 / TICKS_PER_SECOND;
        }
        seconds
    }
}

/// The variables naming a group's root process (see the module's documentation).
const ROOT_VARIABLES: [(&str, &str); 3] = [
    ("accredito", "ACCREDITO_BENCH_ACCREDITO_PID"),
    ("postgresql", "ACCREDITO_BENCH_POSTGRES_PID"),
    ("rabbitmq", "ACCREDITO_BENCH_RABBITMQ_PID"),
];

/// Whether `pid` is `root` or one of its descendants.
fn descends_from(mut pid: u32, root: u32, parents: &BTreeMap<u32, u32>) -> bool {
    for _ in 0..64 {
        if pid == root {
            return true;
        }
        match parents.get(&pid) {
            Some(&parent) if parent != 0 && parent != pid => pid = parent,
            _ => return false,
        }
    }
    false
}

/// The parent pid of one `/proc/<pid>/stat` line.
fn parse_ppid(stat: &str) -> Option<u32> {
    let close = stat.rfind(')')?;
    stat[close + 1..].split_whitespace().nth(1)?.parse().ok()
}

/// The group and utime + stime + cutime + cstime of one `/proc/<pid>/stat` line.
fn parse_stat(stat: &str) -> Option<(&'static str, u64)> {
    let open = stat.find('(')?;
    let close = stat.rfind(')')?;
    let comm = &stat[open + 1..close];
    let group = GROUPS
        .iter()
        .find(|(_, names)| names.contains(&comm))
        .map(|(group, _)| *group)?;
    // After the command: state, ppid, pgrp, session, tty_nr, tpgid, flags, minflt, cminflt,
    // majflt, cmajflt, utime, stime, cutime, cstime (fields 14 to 17 of proc(5)).
    let fields: Vec<&str> = stat[close + 1..].split_whitespace().collect();
    let sum = fields
        .get(11..15)?
        .iter()
        .map(|f| f.parse::<u64>().ok())
        .sum::<Option<u64>>()?;
    Some((group, sum))
}

/// The report: seconds per group, their total, and milliseconds per event.
pub fn report(seconds: &BTreeMap<&'static str, f64>, events: usize) -> Value {
    let total: f64 = seconds.values().sum();
    let per_event_ms = |s: f64| (s * 1000.0 / events.max(1) as f64 * 1000.0).round() / 1000.0;
    json!({
        "seconds": seconds.iter().map(|(g, s)| (g.to_string(), json!((s * 100.0).round() / 100.0))).collect::<serde_json::Map<_, _>>(),
        "total_seconds": (total * 100.0).round() / 100.0,
        "ms_per_event": per_event_ms(total),
        "ms_per_event_by_process": seconds.iter().map(|(g, s)| (g.to_string(), json!(per_event_ms(*s)))).collect::<serde_json::Map<_, _>>(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stat_line_gives_its_group_and_all_four_times() {
        let line = "4242 (postgres) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 50 7 3 20 0 1 0 \
                    12345 1000 100 18446744073709551615";
        assert_eq!(parse_stat(line), Some(("postgresql", 310)));
        let bench = "77 (accredito-bench) R 1 77 77 0 -1 0 0 0 0 0 999 1 0 0 20 0 1 0 1 1 1 1";
        assert_eq!(parse_stat(bench), None, "the bench itself is not counted");
        assert_eq!(parse_ppid(line), Some(1));
    }

    #[test]
    fn a_process_descends_from_its_ancestors_only() {
        let parents = BTreeMap::from([(10, 1), (11, 10), (12, 11), (20, 1)]);
        assert!(descends_from(12, 10, &parents));
        assert!(descends_from(10, 10, &parents));
        assert!(!descends_from(20, 10, &parents));
    }
}
