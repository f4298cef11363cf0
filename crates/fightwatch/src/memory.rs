//! Process-wide allocator settings.
//!
//! glibc's malloc gives each thread that allocates under contention an arena of its own, up to
//! eight per core. fightwatch has a thread per camera plus decoder, model and runtime threads,
//! all allocating and freeing frames of a few hundred kilobytes: memory freed in one arena is
//! not reused by another, and each arena holds on to its free pages. `fightwatch run` on the
//! example config grew from 224 to 234 MB in its first ten minutes and kept climbing, while its
//! live heap (heaptrack) stayed at ~116 MB; with the arenas capped at one per core it stayed flat
//! at 207 MB (docs/performance.md, "Memory over time").

/// Caps glibc's malloc arenas at one per core (at least 2), unless `MALLOC_ARENA_MAX` is set.
/// Call first thing in `main`, before any thread starts.
pub fn limit_malloc_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        if std::env::var_os("MALLOC_ARENA_MAX").is_some() {
            return;
        }
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        let arenas = libc::c_int::try_from(cores.max(2)).unwrap_or(libc::c_int::MAX);
        // SAFETY: mallopt only changes a malloc tunable; M_ARENA_MAX takes any positive count.
        #[allow(unsafe_code)]
        let ok = unsafe { libc::mallopt(libc::M_ARENA_MAX, arenas) };
        if ok != 1 {
            eprintln!("warning: could not cap malloc arenas (mallopt returned {ok})");
        }
    }
}
