//! The `portmortem` binary: all the work is in the library.

fn main() {
    std::process::exit(portmortem::cli::run());
}
