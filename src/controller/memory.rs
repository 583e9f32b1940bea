//! Gives freed heap back to the OS now and then. glibc's malloc keeps what a burst freed
//! (the start of thousands of Rollouts: initial lists, a full work queue, many requests
//! in flight) in its arenas, so RSS stays at the burst's peak although the live heap is a
//! fraction of it; `malloc_trim` returns the free pages. Other allocators (musl, or a
//! build on another OS) need nothing here.

use std::time::Duration;

/// How often the heap is trimmed: rarely enough to cost nothing measurable.
pub const TRIM_EVERY: Duration = Duration::from_secs(30);

/// Trims the heap every [`TRIM_EVERY`] for the life of the process.
pub fn spawn_trimmer() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    tokio::spawn(async {
        let mut tick = tokio::time::interval(TRIM_EVERY);
        loop {
            tick.tick().await;
            // SAFETY: malloc_trim only releases free memory of the allocator's own
            // arenas; it takes its locks and touches no live allocation.
            unsafe {
                libc::malloc_trim(0);
            }
        }
    });
}
