//! Which profile a certificate belongs to: a leaf type that both the policy
//! files and the request type rule name, so neither imports the other.

/// Which profile a certificate belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ProfileKind {
    /// Short-lived bootstrap credential issued at registration (1.76.1).
    Technological,
    /// The certificate that signs payments.
    Working,
    /// A separate profile, e.g. view-only.
    Additional,
}

impl ProfileKind {
    /// All profiles.
    pub const ALL: [ProfileKind; 3] = [
        ProfileKind::Technological,
        ProfileKind::Working,
        ProfileKind::Additional,
    ];

    /// The wire and policy-file name.
    pub fn code(self) -> &'static str {
        match self {
            ProfileKind::Technological => "technological",
            ProfileKind::Working => "working",
            ProfileKind::Additional => "additional",
        }
    }

    /// Parses a wire name.
    pub fn from_code(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.code() == s)
    }
}
