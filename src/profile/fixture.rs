//! VITAL's profile as the shipped `rls-harness.toml` gives it, for unit tests that need
//! one without a database.

use super::Profile;

/// The shipped profile, read from the repository's `rls-harness.toml`.
pub fn vital() -> Profile {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("rls-harness.toml");
    crate::config::Config::load(&path)
        .expect("the shipped config reads")
        .profile
        .expect("the shipped config has a profile")
}
