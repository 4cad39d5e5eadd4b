//! Gives the memory of a burst of large requests back to the system once the burst is over.
//!
//! glibc keeps what a thread freed in that thread's arena for its next allocations. A
//! 10,000-row request holds its body, frame and score buffers (about 10 MB) while it is scored,
//! so after sixteen at once the process stays tens of megabytes above its idle size until the
//! next burst (docs/serving.md, Benchmark). Handing memory back after every request makes the
//! next one fault its pages in again: tried with a fixed mmap threshold, that halved the
//! 10,000-row throughput on the 2-core VM. So it happens once, when large jobs have stopped for
//! [`IDLE`]. With another C library (musl, in the release image) this does nothing.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

/// How long no large job may end before freed memory goes back to the system.
const IDLE: Duration = Duration::from_millis(200);

static JOBS_ENDED: AtomicU64 = AtomicU64::new(0);
static WATCHING: AtomicBool = AtomicBool::new(false);

/// Notes the end of a large job. `busy` tells whether large jobs are running or waiting (in the
/// scorer that ran this one); once none has ended for [`IDLE`] and `busy` is false, freed memory
/// is returned. The watch itself is per process, as the allocator's arenas are.
pub fn large_job_ended(busy: impl Fn() -> bool + Send + 'static) {
    JOBS_ENDED.fetch_add(1, Ordering::Relaxed);
    if WATCHING.swap(true, Ordering::AcqRel) {
        return;
    }
    tokio::spawn(async move {
        // Cleared however the watch ends, also when its runtime shuts down first.
        let _watch = Watch;
        let mut seen = JOBS_ENDED.load(Ordering::Relaxed);
        loop {
            tokio::time::sleep(IDLE).await;
            let now = JOBS_ENDED.load(Ordering::Relaxed);
            if now == seen && !busy() {
                break;
            }
            seen = now;
        }
        let _ = tokio::task::spawn_blocking(release_free_memory).await;
    });
}

struct Watch;

impl Drop for Watch {
    fn drop(&mut self) {
        WATCHING.store(false, Ordering::Release);
    }
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn release_free_memory() {
    // SAFETY: malloc_trim takes no pointers; it walks glibc's own heaps under their locks.
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn release_free_memory() {}
