//! VITAL's profile as the shipped `rls-harness.toml` gives it, for unit tests that need
//! one without a database.

use serde::Deserialize;

use super::{Profile, RawProfile};

/// The shipped profile, read from the repository's `rls-harness.toml`.
pub fn vital() -> Profile {
    #[derive(Deserialize)]
    struct Document {
        profile: RawProfile,
    }
    let path = std::path::Path::new("rls-harness.toml");
    let source = include_str!("../../rls-harness.toml");
    let document: Document = toml::from_str(source).expect("the shipped config parses");
    document
        .profile
        .check(path, source)
        .expect("the shipped profile checks")
}
