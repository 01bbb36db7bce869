//! CPU seconds spent by the service's processes, read from `/proc`: accredito, PostgreSQL and
//! RabbitMQ, each a sum over every process of that name. A process's own time plus the time
//! of its children that have exited (`cutime`, `cstime`), so a PostgreSQL backend that ends
//! during the run is still counted, in the postmaster. Linux only.
//!
//! Within a group, each process is also counted in a part: an accredito process by its roles
//! (`--roles` on its command line, else `ACCREDITO_ROLES` in its environment, else `all`), a
//! RabbitMQ process by the node it belongs to (a `beam.smp`'s `-sname`/`-name`, else its
//! `RABBITMQ_NODENAME`, else `rabbit`; `erl_child_setup` counts with its node), so a run with
//! several ingest and worker processes on a three-node cluster says what each role and each
//! node cost.
//!
//! On a machine where other work uses the same servers, point the bench at servers of its own
//! and name their root processes: `ACCREDITO_BENCH_POSTGRES_PID` (the postmaster) and
//! `ACCREDITO_BENCH_RABBITMQ_PID` (the node's `beam.smp`) restrict each group to those
//! processes and their descendants (`bench/private-servers.sh` starts both and prints the
//! variables), and `ACCREDITO_BENCH_ACCREDITO_PID` the accredito group to the servers measured
//! (`compare.sh` sets it). Each takes a comma-separated list of pids.
//! `ACCREDITO_BENCH_RABBITMQ_NODES` (node names, comma-separated, with or without
//! `@host`) restricts the RabbitMQ group to those nodes' processes, found by node name, which
//! survives a node's restart (`bench/scaling.sh` names the three cluster nodes).
//!
//! The report also has the machine's busy CPU time over the same interval (`/proc/stat`), the
//! bench's own, and what is left (`other_s`): other work on the machine.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use serde_json::{Map, Value, json};

/// `/proc/<pid>/stat` and `/proc/stat` count in USER_HZ, which the kernel's ABI fixes at 100
/// on Linux.
const TICKS_PER_SECOND: f64 = 100.0;

/// The processes measured: the name of their group and the command names (`comm`) in it.
const GROUPS: [(&str, &[&str]); 3] = [
    ("accredito", &["accredito"]),
    ("postgresql", &["postgres"]),
    ("rabbitmq", &["beam.smp", "erl_child_setup", "epmd"]),
];

/// The variables naming a group's root processes (see the module's documentation).
const ROOT_VARIABLES: [(&str, &str); 3] = [
    ("accredito", "ACCREDITO_BENCH_ACCREDITO_PID"),
    ("postgresql", "ACCREDITO_BENCH_POSTGRES_PID"),
    ("rabbitmq", "ACCREDITO_BENCH_RABBITMQ_PID"),
];

/// The variable naming the RabbitMQ nodes measured.
const NODES_VARIABLE: &str = "ACCREDITO_BENCH_RABBITMQ_NODES";

/// Where a process's time is counted: its group and, within it, its part (roles or node).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Part {
    group: &'static str,
    label: String,
}

impl Part {
    /// `accredito[ingest,relay]`, `rabbitmq[accredito-c1]`, `postgresql`.
    fn name(&self) -> String {
        if self.label.is_empty() {
            self.group.to_owned()
        } else {
            format!("{}[{}]", self.group, self.label)
        }
    }
}

/// Ticks per process (pid), with the part each belongs to, at one moment; and the machine's.
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// Per pid: its part, its ticks, and whether it is a server process of its own (an
    /// accredito process or a RabbitMQ node, not a helper or a PostgreSQL backend).
    ticks: BTreeMap<u32, (Part, u64, bool)>,
    /// Busy ticks of all CPUs together, and the number of CPUs (`/proc/stat`).
    machine: Option<(u64, usize)>,
    /// The bench's own ticks.
    bench: u64,
    at: Instant,
}

/// One process as `/proc` shows it.
struct Process {
    ppid: u32,
    comm: String,
    ticks: u64,
}

impl Snapshot {
    pub fn take() -> Snapshot {
        let at = Instant::now();
        let machine = std::fs::read_to_string("/proc/stat")
            .ok()
            .and_then(|s| parse_proc_stat(&s));
        let bench = std::fs::read_to_string("/proc/self/stat")
            .ok()
            .and_then(|s| parse_stat(&s))
            .map_or(0, |(_, _, ticks)| ticks);
        let mut processes = BTreeMap::new();
        if let Ok(entries) = std::fs::read_dir("/proc") {
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
                if let Some((comm, ppid, ticks)) = parse_stat(&stat) {
                    processes.insert(pid, Process { ppid, comm, ticks });
                }
            }
        }
        let parents: BTreeMap<u32, u32> = processes.iter().map(|(p, v)| (*p, v.ppid)).collect();
        // Node names of the beam.smp processes, for them and their children.
        let nodes: BTreeMap<u32, String> = processes
            .iter()
            .filter(|(_, p)| p.comm == "beam.smp")
            .map(|(pid, _)| (*pid, node_name(*pid)))
            .collect();
        let mut ticks = BTreeMap::new();
        for (pid, process) in &processes {
            let Some(group) = group_of(&process.comm) else {
                continue;
            };
            let label = match group {
                "accredito" => roles_of(*pid),
                "rabbitmq" => ancestors(*pid, &parents)
                    .find_map(|a| nodes.get(&a).cloned())
                    .unwrap_or_else(|| process.comm.clone()),
                _ => String::new(),
            };
            let main = matches!(process.comm.as_str(), "accredito" | "beam.smp");
            ticks.insert(*pid, (Part { group, label }, process.ticks, main));
        }
        for (group, variable) in ROOT_VARIABLES {
            let roots = pid_list(std::env::var(variable).ok().as_deref());
            if roots.is_empty() {
                continue;
            }
            ticks.retain(|pid, (part, _, _)| {
                part.group != group || roots.iter().any(|r| descends_from(*pid, *r, &parents))
            });
        }
        let wanted_nodes = node_list(std::env::var(NODES_VARIABLE).ok().as_deref());
        if !wanted_nodes.is_empty() {
            ticks.retain(|_, (part, _, _)| {
                part.group != "rabbitmq" || wanted_nodes.contains(&short_node(&part.label))
            });
        }
        Snapshot {
            ticks,
            machine,
            bench,
            at,
        }
    }

    /// CPU used between `self` and a later snapshot. A process gone by then is counted in its
    /// parent's `cutime` (if that parent is measured); one that started since counts from zero.
    pub fn until(&self, later: &Snapshot) -> Used {
        let mut parts: BTreeMap<Part, f64> = BTreeMap::new();
        let mut processes: BTreeMap<Part, usize> = BTreeMap::new();
        for (pid, (part, after, main)) in &later.ticks {
            let before = match self.ticks.get(pid) {
                Some((same, before, _)) if same == part => *before,
                _ => 0,
            };
            *parts.entry(part.clone()).or_default() +=
                after.saturating_sub(before) as f64 / TICKS_PER_SECOND;
            if *main {
                *processes.entry(part.clone()).or_default() += 1;
            }
        }
        let machine = match (self.machine, later.machine) {
            (Some((before, cpus)), Some((after, _))) => {
                Some((after.saturating_sub(before) as f64 / TICKS_PER_SECOND, cpus))
            }
            _ => None,
        };
        Used {
            parts,
            processes,
            machine,
            bench_s: later.bench.saturating_sub(self.bench) as f64 / TICKS_PER_SECOND,
            wall_s: later.at.duration_since(self.at).as_secs_f64(),
        }
    }
}

/// CPU seconds between two snapshots, per part, with the machine's and the bench's.
#[derive(Debug, Clone, Default)]
pub struct Used {
    parts: BTreeMap<Part, f64>,
    processes: BTreeMap<Part, usize>,
    /// Busy CPU seconds of the whole machine, and its number of CPUs.
    machine: Option<(f64, usize)>,
    bench_s: f64,
    wall_s: f64,
}

impl Used {
    /// Seconds per group (accredito, postgresql, rabbitmq), every group present.
    pub fn groups(&self) -> BTreeMap<&'static str, f64> {
        let mut groups: BTreeMap<&'static str, f64> =
            GROUPS.iter().map(|(group, _)| (*group, 0.0)).collect();
        for (part, seconds) in &self.parts {
            *groups.entry(part.group).or_default() += seconds;
        }
        groups
    }

    /// The report: seconds per group, their total, milliseconds per event per group and per
    /// part (role or node), how many processes each part had, and the machine's busy time.
    pub fn report(&self, events: usize) -> Value {
        let groups = self.groups();
        let total: f64 = groups.values().sum();
        let per_event_ms = |s: f64| round(s * 1000.0 / events.max(1) as f64, 3);
        let mut report = json!({
            "seconds": groups.iter().map(|(g, s)| (g.to_string(), json!(round(*s, 2)))).collect::<Map<_, _>>(),
            "total_seconds": round(total, 2),
            "ms_per_event": per_event_ms(total),
            "ms_per_event_by_process": groups.iter().map(|(g, s)| (g.to_string(), json!(per_event_ms(*s)))).collect::<Map<_, _>>(),
            "ms_per_event_by_part": self.parts.iter().map(|(p, s)| (p.name(), json!(per_event_ms(*s)))).collect::<Map<_, _>>(),
            "processes_by_part": self.processes.iter().map(|(p, n)| (p.name(), json!(n))).collect::<Map<_, _>>(),
            "wall_s": round(self.wall_s, 2),
            "bench_s": round(self.bench_s, 2),
        });
        if let Some((busy, cpus)) = self.machine {
            report["machine_busy_s"] = json!(round(busy, 2));
            report["machine_cpus"] = json!(cpus);
            // Busy time no measured process accounts for: other work on the machine (and the
            // kernel's own threads).
            report["other_s"] = json!(round(busy - total - self.bench_s, 2));
            if self.wall_s > 0.0 && cpus > 0 {
                report["machine_busy_share"] = json!(round(busy / (self.wall_s * cpus as f64), 3));
            }
        }
        report
    }
}

fn round(value: f64, decimals: i32) -> f64 {
    let scale = 10f64.powi(decimals);
    (value * scale).round() / scale
}

fn group_of(comm: &str) -> Option<&'static str> {
    GROUPS
        .iter()
        .find(|(_, names)| names.contains(&comm))
        .map(|(group, _)| *group)
}

/// `pid`, its parent, its parent's parent... (at most 64).
fn ancestors(pid: u32, parents: &BTreeMap<u32, u32>) -> impl Iterator<Item = u32> + '_ {
    let mut next = Some(pid);
    std::iter::from_fn(move || {
        let current = next?;
        next = parents
            .get(&current)
            .copied()
            .filter(|p| *p != 0 && *p != current);
        Some(current)
    })
    .take(64)
}

/// Whether `pid` is `root` or one of its descendants.
fn descends_from(pid: u32, root: u32, parents: &BTreeMap<u32, u32>) -> bool {
    ancestors(pid, parents).any(|a| a == root)
}

/// A comma-separated list of pids (blanks and junk ignored).
fn pid_list(value: Option<&str>) -> Vec<u32> {
    value
        .unwrap_or_default()
        .split(',')
        .filter_map(|p| p.trim().parse().ok())
        .collect()
}

/// A comma-separated list of node names, without their `@host`.
fn node_list(value: Option<&str>) -> BTreeSet<String> {
    value
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .map(short_node)
        .collect()
}

fn short_node(name: &str) -> String {
    name.split('@').next().unwrap_or(name).to_owned()
}

/// The NUL-separated arguments of a process, and its environment's value of `variable`.
fn cmdline(pid: u32) -> Vec<String> {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|bytes| split_nul(&bytes))
        .unwrap_or_default()
}

fn environ(pid: u32, variable: &str) -> Option<String> {
    let bytes = std::fs::read(format!("/proc/{pid}/environ")).ok()?;
    let prefix = format!("{variable}=");
    split_nul(&bytes)
        .into_iter()
        .find_map(|entry| entry.strip_prefix(&prefix).map(str::to_owned))
}

fn split_nul(bytes: &[u8]) -> Vec<String> {
    bytes
        .split(|b| *b == 0)
        .filter(|a| !a.is_empty())
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect()
}

/// The value of `--flag X` or `--flag=X` (or `-flag X`) in a command line.
fn flag_value(args: &[String], flags: &[&str]) -> Option<String> {
    args.iter().enumerate().find_map(|(i, arg)| {
        flags.iter().find_map(|flag| {
            if arg == flag {
                args.get(i + 1).cloned()
            } else {
                arg.strip_prefix(&format!("{flag}=")).map(str::to_owned)
            }
        })
    })
}

/// An accredito process's roles, as it was started.
fn roles_of(pid: u32) -> String {
    flag_value(&cmdline(pid), &["--roles"])
        .or_else(|| environ(pid, "ACCREDITO_ROLES"))
        .unwrap_or_else(|| "all".to_owned())
}

/// A RabbitMQ node's name: `-sname`/`-name` on its command line (older releases), else
/// `RABBITMQ_NODENAME` in its environment (3.10 names the node after boot), else the default.
fn node_name(pid: u32) -> String {
    flag_value(&cmdline(pid), &["-sname", "-name"])
        .or_else(|| environ(pid, "RABBITMQ_NODENAME"))
        .unwrap_or_else(|| "rabbit".to_owned())
}

/// The command name, parent pid and utime + stime + cutime + cstime of one
/// `/proc/<pid>/stat` line.
fn parse_stat(stat: &str) -> Option<(String, u32, u64)> {
    let open = stat.find('(')?;
    let close = stat.rfind(')')?;
    let comm = stat[open + 1..close].to_owned();
    // After the command: state, ppid, pgrp, session, tty_nr, tpgid, flags, minflt, cminflt,
    // majflt, cmajflt, utime, stime, cutime, cstime (fields 14 to 17 of proc(5)).
    let fields: Vec<&str> = stat[close + 1..].split_whitespace().collect();
    let ppid = fields.get(1)?.parse().ok()?;
    let sum = fields
        .get(11..15)?
        .iter()
        .map(|f| f.parse::<u64>().ok())
        .sum::<Option<u64>>()?;
    Some((comm, ppid, sum))
}

/// The busy ticks of all CPUs (user, nice, system, irq, softirq, steal: not idle or iowait)
/// and the number of CPUs, from `/proc/stat`.
fn parse_proc_stat(stat: &str) -> Option<(u64, usize)> {
    let mut lines = stat.lines();
    let all: Vec<u64> = lines
        .next()?
        .strip_prefix("cpu ")?
        .split_whitespace()
        .map(|f| f.parse().ok())
        .collect::<Option<_>>()?;
    let busy = [0, 1, 2, 5, 6, 7]
        .iter()
        .map(|i| all.get(*i).copied().unwrap_or(0))
        .sum();
    let cpus = lines
        .filter(|l| l.starts_with("cpu") && l.as_bytes().get(3).is_some_and(u8::is_ascii_digit))
        .count();
    Some((busy, cpus))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stat_line_gives_its_command_parent_and_all_four_times() {
        let line = "4242 (postgres) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 50 7 3 20 0 1 0 \
                    12345 1000 100 18446744073709551615";
        assert_eq!(parse_stat(line), Some(("postgres".to_owned(), 1, 310)));
        assert_eq!(group_of("postgres"), Some("postgresql"));
        assert_eq!(
            group_of("accredito-bench"),
            None,
            "the bench is not a server"
        );
    }

    #[test]
    fn a_process_descends_from_its_ancestors_only() {
        let parents = BTreeMap::from([(10, 1), (11, 10), (12, 11), (20, 1)]);
        assert!(descends_from(12, 10, &parents));
        assert!(descends_from(10, 10, &parents));
        assert!(!descends_from(20, 10, &parents));
    }

    #[test]
    fn lists_of_pids_and_nodes_are_comma_separated() {
        assert_eq!(pid_list(Some("12, 34,x,")), vec![12, 34]);
        assert!(pid_list(None).is_empty());
        assert_eq!(
            node_list(Some("accredito-c1@localhost,accredito-c2")),
            BTreeSet::from(["accredito-c1".to_owned(), "accredito-c2".to_owned()])
        );
    }

    #[test]
    fn flags_are_read_in_both_spellings() {
        let args: Vec<String> = ["accredito", "serve", "--roles", "ingest,relay"]
            .map(str::to_owned)
            .to_vec();
        assert_eq!(
            flag_value(&args, &["--roles"]).as_deref(),
            Some("ingest,relay")
        );
        let args = vec!["accredito".to_owned(), "--roles=workers".to_owned()];
        assert_eq!(flag_value(&args, &["--roles"]).as_deref(), Some("workers"));
        assert_eq!(flag_value(&args, &["-sname"]), None);
    }

    #[test]
    fn the_machine_busy_time_leaves_out_idle_and_iowait() {
        let stat = "cpu  100 5 50 1000 40 3 2 0 0 0\ncpu0 50 2 25 500 20 1 1 0 0 0\n\
                    cpu1 50 3 25 500 20 2 1 0 0 0\nintr 1 2 3\n";
        assert_eq!(parse_proc_stat(stat), Some((160, 2)));
    }

    #[test]
    fn parts_are_summed_into_their_groups() {
        let part = |group, label: &str| Part {
            group,
            label: label.to_owned(),
        };
        let used = Used {
            parts: BTreeMap::from([
                (part("accredito", "ingest,relay"), 1.0),
                (part("accredito", "workers"), 2.0),
                (part("rabbitmq", "accredito-c1@localhost"), 0.5),
                (part("rabbitmq", "accredito-c2@localhost"), 0.25),
            ]),
            wall_s: 4.0,
            machine: Some((6.0, 2)),
            ..Used::default()
        };
        let report = used.report(1000);
        assert_eq!(report["seconds"]["accredito"], json!(3.0));
        assert_eq!(report["seconds"]["postgresql"], json!(0.0));
        assert_eq!(report["ms_per_event"], json!(3.75));
        assert_eq!(
            report["ms_per_event_by_part"]["accredito[workers]"],
            json!(2.0)
        );
        assert_eq!(
            report["ms_per_event_by_part"]["rabbitmq[accredito-c1@localhost]"],
            json!(0.5)
        );
        assert_eq!(report["other_s"], json!(2.25));
        assert_eq!(report["machine_busy_share"], json!(0.75));
    }
}
