//! Which changefeeds this daemon should take or hand off, from one read of the state table
//! (pure: no I/O, the same answer on every daemon that reads the same rows).
//!
//! Fair share: with `n` changefeeds and `m` live daemons, `n mod m` daemons may own
//! `ceil(n / m)` and the others `floor(n / m)`. The larger quotas go to the daemons that
//! already own the most (ties by id), so a daemon that joins takes only what the others
//! hand off and nothing moves when the shares are already fair. A daemon below its quota
//! takes free changefeeds (nobody owns them, or their lease ended longer ago than the
//! take-over margin); a daemon above its quota hands off its surplus, but only while some
//! other daemon is below its own quota (so a hand-off always has a taker). Candidates are
//! ordered by a rendezvous hash of (daemon, changefeed), so daemons racing for free
//! changefeeds mostly pick different ones; a race is still safe (the store lets one win).

use std::collections::{BTreeMap, BTreeSet};

/// One changefeed's lease as read from the table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseState {
    pub owner: Option<String>,
    /// Whether another daemon may take it now (unowned, or ended longer ago than the margin).
    pub free: bool,
}

/// What this daemon should do now.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    /// Free changefeeds to try to acquire, best first.
    pub acquire: Vec<String>,
    /// Owned changefeeds to hand off gracefully.
    pub release: Vec<String>,
    /// This daemon's quota.
    pub quota: usize,
}

/// The plan of daemon `me` given the configured changefeeds, the live daemons (`me`
/// counts even when its heartbeat row is not read yet), the leases read, and the
/// changefeeds `me` is running.
pub fn plan(
    me: &str,
    changefeeds: &[String],
    members: &[String],
    leases: &BTreeMap<String, LeaseState>,
    running: &BTreeSet<String>,
) -> Plan {
    let mut live: BTreeSet<&str> = members.iter().map(String::as_str).collect();
    live.insert(me);
    // Owned counts per live daemon (what `me` runs counts as its own).
    let mut owned: BTreeMap<&str, usize> = live.iter().map(|d| (*d, 0)).collect();
    for cf in changefeeds {
        let owner = if running.contains(cf) {
            Some(me)
        } else {
            leases
                .get(cf)
                .and_then(|l| if l.free { None } else { l.owner.as_deref() })
        };
        if let Some(o) = owner
            && let Some(c) = owned.get_mut(o)
        {
            *c += 1;
        }
    }
    let quotas = quotas(changefeeds.len(), &owned);
    let quota = quotas.get(me).copied().unwrap_or(0);
    let mine = owned.get(me).copied().unwrap_or(0);
    let mut out = Plan {
        quota,
        ..Plan::default()
    };
    if mine < quota {
        let mut free: Vec<&String> = changefeeds
            .iter()
            .filter(|cf| !running.contains(*cf))
            .filter(|cf| leases.get(*cf).is_none_or(|l| l.free))
            .collect();
        free.sort_by_key(|cf| std::cmp::Reverse(rendezvous(me, cf)));
        out.acquire = free.into_iter().take(quota - mine).cloned().collect();
    } else if mine > quota {
        let takers: usize = owned
            .iter()
            .filter(|(d, _)| **d != me)
            .map(|(d, c)| quotas.get(d).copied().unwrap_or(0).saturating_sub(*c))
            .sum();
        let mut mine: Vec<&String> = running.iter().collect();
        // Hand off what this daemon is least attached to (lowest rendezvous score).
        mine.sort_by_key(|cf| rendezvous(me, cf));
        out.release = mine
            .into_iter()
            .take((owned[me] - quota).min(takers))
            .cloned()
            .collect();
    }
    out
}

/// Each live daemon's quota: `n / m`, and one more for the `n mod m` daemons that own the
/// most (ties by id).
fn quotas<'a>(n: usize, owned: &BTreeMap<&'a str, usize>) -> BTreeMap<&'a str, usize> {
    let m = owned.len().max(1);
    let (base, extra) = (n / m, n % m);
    let mut order: Vec<(&str, usize)> = owned.iter().map(|(d, c)| (*d, *c)).collect();
    order.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    order
        .into_iter()
        .enumerate()
        .map(|(i, (d, _))| (d, base + usize::from(i < extra)))
        .collect()
}

/// A stable score of (daemon, changefeed): FNV-1a, so every build and platform agrees.
fn rendezvous(daemon: &str, changefeed: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in daemon.bytes().chain([0]).chain(changefeed.bytes()) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfs(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("cf{i}")).collect()
    }

    fn owned_by(owner: &str) -> LeaseState {
        LeaseState {
            owner: Some(owner.to_string()),
            free: false,
        }
    }

    /// Runs every daemon's plan in turn, applying acquisitions and releases, until nothing
    /// changes; returns the owner of each changefeed.
    fn converge(daemons: &[&str], n: usize) -> BTreeMap<String, String> {
        let all = cfs(n);
        let members: Vec<String> = daemons.iter().map(|d| d.to_string()).collect();
        let mut leases: BTreeMap<String, LeaseState> = BTreeMap::new();
        for _ in 0..20 {
            let mut changed = false;
            for d in daemons {
                let running: BTreeSet<String> = leases
                    .iter()
                    .filter(|(_, l)| l.owner.as_deref() == Some(*d))
                    .map(|(c, _)| c.clone())
                    .collect();
                let p = plan(d, &all, &members, &leases, &running);
                for cf in p.release {
                    leases.insert(
                        cf,
                        LeaseState {
                            owner: None,
                            free: true,
                        },
                    );
                    changed = true;
                }
                for cf in p.acquire {
                    leases.insert(cf, owned_by(d));
                    changed = true;
                }
            }
            if !changed {
                break;
            }
        }
        leases
            .into_iter()
            .filter_map(|(c, l)| l.owner.map(|o| (c, o)))
            .collect()
    }

    fn counts(owners: &BTreeMap<String, String>) -> BTreeMap<String, usize> {
        let mut c = BTreeMap::new();
        for o in owners.values() {
            *c.entry(o.clone()).or_insert(0) += 1;
        }
        c
    }

    #[test]
    fn six_changefeeds_on_three_daemons_are_two_each() {
        let owners = converge(&["a", "b", "c"], 6);
        assert_eq!(owners.len(), 6, "every changefeed owned");
        assert!(counts(&owners).values().all(|c| *c == 2), "{owners:?}");
    }

    #[test]
    fn seven_on_three_is_three_two_two() {
        let owners = converge(&["a", "b", "c"], 7);
        let mut c: Vec<usize> = counts(&owners).into_values().collect();
        c.sort_unstable();
        assert_eq!(c, vec![2, 2, 3]);
    }

    #[test]
    fn a_lone_daemon_takes_everything_free() {
        let all = cfs(3);
        let p = plan("a", &all, &[], &BTreeMap::new(), &BTreeSet::new());
        assert_eq!(p.quota, 3);
        assert_eq!(p.acquire.len(), 3);
        assert!(p.release.is_empty());
    }

    #[test]
    fn a_standby_waits_while_the_owner_holds_its_only_changefeed() {
        let all = cfs(1);
        let leases = BTreeMap::from([("cf0".to_string(), owned_by("b"))]);
        let members = vec!["a".to_string(), "b".to_string()];
        // The owner keeps it whatever the ids' order.
        let p = plan("a", &all, &members, &leases, &BTreeSet::new());
        assert_eq!(p, Plan::default());
        let running = BTreeSet::from(["cf0".to_string()]);
        let p = plan("b", &all, &members, &leases, &running);
        assert_eq!(p.quota, 1);
        assert!(p.release.is_empty() && p.acquire.is_empty());
    }

    #[test]
    fn a_leaving_daemons_changefeeds_are_taken_up_to_the_new_share() {
        // c left: its two leases ended (free); a and b own two each.
        let all = cfs(6);
        let mut leases = BTreeMap::new();
        for (i, owner) in ["a", "a", "b", "b"].iter().enumerate() {
            leases.insert(format!("cf{i}"), owned_by(owner));
        }
        for i in 4..6 {
            leases.insert(
                format!("cf{i}"),
                LeaseState {
                    owner: Some("c".into()),
                    free: true,
                },
            );
        }
        let members = vec!["a".to_string(), "b".to_string()];
        let running: BTreeSet<String> = ["cf0", "cf1"].map(String::from).into();
        let p = plan("a", &all, &members, &leases, &running);
        assert_eq!(p.quota, 3);
        assert_eq!(p.acquire.len(), 1);
    }

    #[test]
    fn a_joining_daemon_gets_what_the_others_hand_off() {
        // a and b own three each; c joins.
        let all = cfs(6);
        let mut leases = BTreeMap::new();
        for i in 0..6 {
            leases.insert(format!("cf{i}"), owned_by(if i < 3 { "a" } else { "b" }));
        }
        let members: Vec<String> = ["a", "b", "c"].map(String::from).into();
        let running_a: BTreeSet<String> = (0..3).map(|i| format!("cf{i}")).collect();
        let p = plan("a", &all, &members, &leases, &running_a);
        assert_eq!((p.quota, p.release.len()), (2, 1));
        // Nothing to hand off to when nobody is below its quota.
        let two: Vec<String> = ["a", "b"].map(String::from).into();
        let p = plan("a", &all, &two, &leases, &running_a);
        assert!(p.release.is_empty());
    }
}
