//! `sqlx::migrate!` embeds the migration folders when the crate compiles, and cargo does not
//! watch them on its own: without this, a new migration would not reach the binary until some
//! source file changed.
fn main() {
    println!("cargo:rerun-if-changed=../migrations");
}
