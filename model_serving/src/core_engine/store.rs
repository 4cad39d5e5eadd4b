//! Status of every engine task this service accepted, for `GET /tasks/{id}/status`. Finished
//! tasks stay known for the retention period (an hour by default), at most the last 1,000.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::protocol::TaskStatus;

pub const MAX_FINISHED: usize = 1000;

#[derive(Debug)]
pub struct TaskStore {
    retention: Duration,
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    status: HashMap<String, TaskStatus>,
    /// Final tasks, oldest first, with the time they ended.
    finished: VecDeque<(String, Instant)>,
}

impl TaskStore {
    pub fn new(retention: Duration) -> TaskStore {
        TaskStore { retention, inner: Mutex::new(Inner::default()) }
    }

    pub fn set(&self, id: &str, status: TaskStatus) {
        let mut inner = self.lock();
        inner.status.insert(id.to_string(), status);
        if status.is_final() {
            inner.finished.push_back((id.to_string(), Instant::now()));
        }
        self.prune(&mut inner);
    }

    pub fn get(&self, id: &str) -> Option<TaskStatus> {
        let mut inner = self.lock();
        self.prune(&mut inner);
        inner.status.get(id).copied()
    }

    /// True when the id is known and not final (a duplicate dispatch of a running task).
    pub fn is_active(&self, id: &str) -> bool {
        self.lock().status.get(id).is_some_and(|s| !s.is_final())
    }

    fn prune(&self, inner: &mut Inner) {
        let now = Instant::now();
        while let Some((id, ended)) = inner.finished.front() {
            let expired = now.duration_since(*ended) > self.retention;
            if !expired && inner.finished.len() <= MAX_FINISHED {
                break;
            }
            // The same id may have been re-dispatched since; forget only a final status.
            if inner.status.get(id).is_some_and(|s| s.is_final()) {
                let id = id.clone();
                inner.status.remove(&id);
            }
            inner.finished.pop_front();
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding this lock cannot leave the maps inconsistent (each update is one
        // insert), so a poisoned lock is still usable.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finished_tasks_expire_and_at_most_1000_are_kept() {
        let store = TaskStore::new(Duration::from_secs(3600));
        for i in 0..1005 {
            store.set(&format!("t{i}"), TaskStatus::Pending);
            store.set(&format!("t{i}"), TaskStatus::Finished);
        }
        assert_eq!(store.get("t0"), None);
        assert_eq!(store.get("t4"), None);
        assert_eq!(store.get("t5"), Some(TaskStatus::Finished));
        assert_eq!(store.get("t1004"), Some(TaskStatus::Finished));

        let short = TaskStore::new(Duration::ZERO);
        short.set("a", TaskStatus::Processing);
        short.set("b", TaskStatus::Error);
        std::thread::sleep(Duration::from_millis(2));
        assert_eq!(short.get("b"), None, "expired final status is forgotten");
        assert_eq!(short.get("a"), Some(TaskStatus::Processing), "running tasks never expire");
    }
}
