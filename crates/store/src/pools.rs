//! Execution pools: what an operation's attempts wait on decides how many of them may run at
//! once. A timer or a socket costs a node almost nothing, a process a great deal, so each
//! kind has its own limit, and a claim takes at most the free slots of each.

use std::fmt;
use std::ops::{Index, IndexMut};

/// What an operation's attempts wait on, fixed when it is submitted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Pool {
    /// Emulated cloud operations: a timer (their latency) and the store.
    Emulated,
    /// Declared operations run by the HTTP executor: a socket.
    Http,
    /// Declared operations run by the command executor: a process.
    Command,
    /// Application lifecycle steps (service `bpstudio`): the store and a timer.
    Step,
}

impl Pool {
    /// Every pool, in the order [`Budget`] keeps them.
    pub const ALL: [Pool; 4] = [Pool::Emulated, Pool::Http, Pool::Command, Pool::Step];

    /// The name stored with the operation and used in the configuration.
    pub fn as_str(self) -> &'static str {
        match self {
            Pool::Emulated => "emulated",
            Pool::Http => "http",
            Pool::Command => "command",
            Pool::Step => "step",
        }
    }

    /// Reads [`Pool::as_str`]'s spelling.
    pub fn parse(s: &str) -> Option<Pool> {
        Pool::ALL.into_iter().find(|pool| pool.as_str() == s)
    }
}

impl fmt::Display for Pool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A count of attempts per pool: the free slots a claim may fill, or the limits they come
/// from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Budget([usize; Pool::ALL.len()]);

impl Budget {
    /// The same count for every pool.
    pub fn uniform(n: usize) -> Budget {
        Budget([n; Pool::ALL.len()])
    }

    /// The sum over all pools.
    pub fn total(&self) -> usize {
        self.0.iter().sum()
    }

    /// The pools with a count above zero, with their counts.
    pub fn nonzero(&self) -> impl Iterator<Item = (Pool, usize)> + '_ {
        Pool::ALL
            .into_iter()
            .map(|pool| (pool, self[pool]))
            .filter(|&(_, n)| n > 0)
    }
}

impl Index<Pool> for Budget {
    type Output = usize;

    fn index(&self, pool: Pool) -> &usize {
        &self.0[pool as usize]
    }
}

impl IndexMut<Pool> for Budget {
    fn index_mut(&mut self, pool: Pool) -> &mut usize {
        &mut self.0[pool as usize]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for pool in Pool::ALL {
            assert_eq!(Pool::parse(pool.as_str()), Some(pool));
        }
        assert_eq!(Pool::parse("timer"), None);
    }

    #[test]
    fn a_budget_counts_per_pool() {
        let mut budget = Budget::default();
        budget[Pool::Http] = 3;
        budget[Pool::Step] = 1;
        assert_eq!(budget.total(), 4);
        assert_eq!(
            budget.nonzero().collect::<Vec<_>>(),
            [(Pool::Http, 3), (Pool::Step, 1)]
        );
    }
}
