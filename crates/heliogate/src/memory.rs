//! Gives the system back the memory that start-up used and freed.
//!
//! Start-up allocates far more than a server then keeps: the command line's whole tree of
//! subcommands and settings (about 1 MB), migrations, the first administrator's password hash.
//! glibc's allocator returns freed memory to the system only from the top of its heap, so these
//! pages would stay resident under the server's long-lived state for the life of the process:
//! 1.2-1.4 MB of an idle server's 13 (its own memory, heap and arenas, 3.6-3.9 MB before the
//! trim and 2.4-2.6 MB after, on SQLite).

/// Returns the freed pages of every allocator arena to the system (glibc's `malloc_trim`);
/// elsewhere nothing, as other allocators have no such call or return memory themselves.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[expect(unsafe_code, reason = "a call into glibc's allocator")]
pub(crate) fn release_freed() {
    // SAFETY: malloc_trim takes no pointer and holds each arena's lock while it trims it, as
    // malloc and free do; any thread may call it at any time.
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub(crate) fn release_freed() {}
