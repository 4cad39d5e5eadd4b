//! Shares of a job for the pods of a Kubernetes Indexed Job (or any N processes): `i/n` takes
//! the items whose key hashes to `i` under a fixed FNV-1a, so the processes cover every item
//! exactly once without talking to each other. Used by `batch-score` (input files) and group
//! training (groups).

use model_core::stable_hash::fnv1a;

/// `i/n`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    pub index: usize,
    pub count: usize,
}

impl std::str::FromStr for Shard {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || format!("'{s}' is not a shard: expected i/n with 0 <= i < n, e.g. 0/4");
        let (i, n) = s.split_once('/').ok_or_else(bad)?;
        Shard::new(i.trim().parse().map_err(|_| bad())?, n.trim().parse().map_err(|_| bad())?)
    }
}

impl Shard {
    /// Shard `index` of `count`.
    pub fn new(index: usize, count: usize) -> Result<Shard, String> {
        if count == 0 || index >= count {
            return Err(format!("shard {index} of {count}: expected 0 <= index < count"));
        }
        Ok(Shard { index, count })
    }

    /// Whether the item with this key (an input's path, a group's value) is this shard's.
    pub fn owns(&self, key: &str) -> bool {
        fnv1a(key.as_bytes()) % self.count as u64 == self.index as u64
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}
