//! The `teamster` binary: a thin CLI over the library.

fn main() {
    println!("teamster");
}
