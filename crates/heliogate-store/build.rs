//! `sqlx::migrate!` embeds the migrations at compile time; without this, adding or removing
//! one would not rebuild the crate.

fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
