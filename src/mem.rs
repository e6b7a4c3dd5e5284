//! Heap accounting, so that `--max-memory-mb` bounds what the process
//! really holds rather than an estimate of it.
//!
//! The binary installs [`CountingAlloc`] as its global allocator: every
//! allocation and free is counted on its way to the system allocator, in
//! a per-thread balance that joins the process's counter once it passes
//! [`FLUSH`] bytes either way. One shared counter updated on every call
//! cost 10% of `analyze` and 18% of `compare` (two threads bouncing its
//! cache line); the balance costs a thread-local add. The count is exact
//! to within [`FLUSH`] bytes per running thread, and a thread that exits
//! leaves its unflushed balance (under [`FLUSH`]) uncounted. The library reads it with
//! [`heap_in_use`], and one thread's own allocations with [`thread_heap`]; embedded elsewhere (a test, another program) without
//! the counting allocator, it reads `None` and the budget falls back to
//! the engine's own estimates.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicIsize, Ordering};

/// Signed: one thread may flush the free of what another allocated before
/// that one flushes the allocation.
static IN_USE: AtomicIsize = AtomicIsize::new(0);
/// Set once a balance was flushed: the counting allocator is installed.
static INSTALLED: AtomicBool = AtomicBool::new(false);

/// The balance a thread keeps before it joins [`IN_USE`].
pub const FLUSH: isize = 64 << 10;

thread_local! {
    // Const-initialised and without a destructor: usable from inside the
    // allocator (no lazy registration, which could allocate).
    static BALANCE: std::cell::Cell<isize> = const { std::cell::Cell::new(0) };
    /// Everything this thread allocated minus everything it freed.
    static NET: std::cell::Cell<isize> = const { std::cell::Cell::new(0) };
}

/// Counts `delta` bytes (positive: allocated, negative: freed).
#[inline]
fn count(delta: isize) {
    let _ = NET.try_with(|n| n.set(n.get() + delta));
    let flushed = BALANCE.try_with(|b| {
        let v = b.get() + delta;
        if v.abs() >= FLUSH {
            b.set(0);
            v
        } else {
            b.set(v);
            0
        }
    });
    // Past the thread's teardown its balance is gone: count directly.
    let v = flushed.unwrap_or(delta);
    if v != 0 {
        IN_USE.fetch_add(v, Ordering::Relaxed);
        if !INSTALLED.load(Ordering::Relaxed) {
            INSTALLED.store(true, Ordering::Relaxed);
        }
    }
}

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
            count(layout.size() as isize);
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded as received.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            count(layout.size() as isize);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded as received.
        unsafe { System.dealloc(ptr, layout) };
        count(-(layout.size() as isize));
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded as received.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            count(new_size as isize - layout.size() as isize);
        }
        p
    }
}

/// Bytes of heap in use by the whole process, when the counting allocator
/// is installed (within [`FLUSH`] bytes per thread).
pub fn heap_in_use() -> Option<usize> {
    INSTALLED
        .load(Ordering::Relaxed)
        .then(|| IN_USE.load(Ordering::Relaxed).max(0) as usize)
}

/// Bytes this thread has allocated and not freed (exactly; memory another
/// thread frees is not subtracted); always 0 without the counting
/// allocator. Unlike [`heap_in_use`] it does not depend on what other
/// threads do at the same moment: an analysis that budgets by it makes the
/// same choices from run to run, even beside another one (`compare`
/// reads its two captures at once). It is read whether or not any thread
/// has flushed yet, for the same reason.
pub fn thread_heap() -> isize {
    NET.try_with(std::cell::Cell::get).unwrap_or(0)
}
