//! The policy files under `policies/` (SPEC §6), read at start and validated
//! strictly: unknown fields are errors, and every error names the file and field.

mod ca;
mod calendar;
mod profile;
mod rules;

use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;

pub use ca::{CaKeyAlgorithm, CaPolicy, OcspResponder};
pub use calendar::Calendar;
pub use profile::{
    Profile, ProfileKind, Profiles, RotationExtensions, RSA_DEFAULT_SIZES, RSA_STANDARD_SIZES,
};
pub use rules::{PasswordPolicy, Rules};

use crate::error::{Error, Result};

/// Every policy the CA runs under.
#[derive(Clone, Debug)]
pub struct Policies {
    /// `ca.toml`: the CA's name, key, validity, CRL timing and URLs.
    pub ca: CaPolicy,
    /// `profiles.toml`: technological, working and additional profiles.
    pub profiles: Profiles,
    /// `rules.toml`: registration window, suspension bounds, operator passwords.
    pub rules: Rules,
    /// `calendar.toml`: the business calendar.
    pub calendar: Calendar,
}

impl Policies {
    /// Loads and validates all four files from `dir`.
    pub fn load(dir: &Path) -> Result<Policies> {
        Ok(Policies {
            ca: CaPolicy::from_raw(read_toml(dir, ca::FILE)?)?,
            profiles: Profiles::from_raw(read_toml(dir, profile::FILE)?)?,
            rules: Rules::from_raw(read_toml(dir, rules::FILE)?)?,
            calendar: Calendar::from_raw(read_toml(dir, calendar::FILE)?)?,
        })
    }
}

fn read_toml<T: DeserializeOwned>(dir: &Path, file: &str) -> Result<T> {
    let path: PathBuf = dir.join(file);
    let text = std::fs::read_to_string(&path)
        .map_err(|e| Error::config(&path.display().to_string(), "", e))?;
    toml::from_str(&text).map_err(|e| {
        // toml's message already names the key and shows the line.
        Error::config(&path.display().to_string(), "", e.to_string().trim_end())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shipped() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../policies")
    }

    #[test]
    fn the_shipped_policies_load() {
        let p = Policies::load(&shipped()).unwrap();
        assert_eq!(p.rules.suspension_min_days, 10);
        assert_eq!(p.rules.registration_window_days, 30);
        assert!(p.profiles.get(ProfileKind::Technological).validity_days <= 60);
    }

    #[test]
    fn an_unknown_field_names_the_file_and_the_field() {
        let dir = tempfile::tempdir().unwrap();
        for f in ["ca.toml", "profiles.toml", "rules.toml", "calendar.toml"] {
            std::fs::copy(shipped().join(f), dir.path().join(f)).unwrap();
        }
        let rules = std::fs::read_to_string(dir.path().join("rules.toml")).unwrap();
        std::fs::write(
            dir.path().join("rules.toml"),
            rules.replace("min_days = 10", "min_days = 10\nmin_dayz = 3"),
        )
        .unwrap();
        let err = Policies::load(dir.path()).unwrap_err().to_string();
        assert!(
            err.contains("rules.toml") && err.contains("min_dayz"),
            "{err}"
        );
    }

    #[test]
    fn a_missing_file_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let err = Policies::load(dir.path()).unwrap_err().to_string();
        assert!(err.contains("ca.toml"), "{err}");
    }
}
