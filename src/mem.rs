//! Heap accounting, so that `--max-memory-mb` bounds what the process
//! really holds rather than an estimate of it.
//!
//! The binary installs [`CountingAlloc`] as its global allocator: every
//! allocation and free passes through one relaxed atomic counter on its
//! way to the system allocator. The library reads it with
//! [`heap_in_use`]; embedded elsewhere (a test, another program) without
//! the counting allocator, it reads `None` and the budget falls back to
//! the engine's own estimates.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

static IN_USE: AtomicUsize = AtomicUsize::new(0);

/// The system allocator, counting the bytes it has handed out and not got
/// back.
pub struct CountingAlloc;

// SAFETY: every call is forwarded to `System` with the same arguments; the
// counter only observes sizes.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded as received.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            IN_USE.fetch_add(layout.size(), Ordering::Relaxed);
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded as received.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            IN_USE.fetch_add(layout.size(), Ordering::Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded as received.
        unsafe { System.dealloc(ptr, layout) };
        IN_USE.fetch_sub(layout.size(), Ordering::Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded as received.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            IN_USE.fetch_add(new_size, Ordering::Relaxed);
            IN_USE.fetch_sub(layout.size(), Ordering::Relaxed);
        }
        p
    }
}

/// Bytes of heap in use by the whole process, when the counting allocator
/// is installed (any running program has allocated something by the time
/// this is asked, so zero means it is not).
pub fn heap_in_use() -> Option<usize> {
    match IN_USE.load(Ordering::Relaxed) {
        0 => None,
        n => Some(n),
    }
}
