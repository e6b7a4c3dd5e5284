//! The `portmortem` binary: all the work is in the library.

/// Counts heap bytes so that `--max-memory-mb` bounds real memory.
#[global_allocator]
static ALLOC: portmortem::mem::CountingAlloc = portmortem::mem::CountingAlloc;

fn main() {
    std::process::exit(portmortem::cli::run());
}
