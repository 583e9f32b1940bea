//! How each release (by image) answers logins: a baseline share of wrong passwords, and
//! optionally a bug that fails a share of the logins of a share of the users.
//! Written `IMAGE=baseline:0.02,bug:1.0,bug-users:0.1,bug-code:500`.

use kube_memserver::workloads::hash::fnv1a_32;
use std::str::FromStr;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AuthBehaviour {
    /// Share of logins that fail with 401 because the user typed a wrong password.
    pub baseline: f64,
    /// Share of an affected user's logins the bug fails.
    pub bug: f64,
    /// Share of users the bug affects (1.0: everyone). Which users is fixed per user id.
    pub bug_users: f64,
    /// The status code of a login the bug fails (401, 403 or 500).
    pub bug_code: u16,
}

impl Default for AuthBehaviour {
    fn default() -> Self {
        AuthBehaviour {
            baseline: 0.02,
            bug: 0.0,
            bug_users: 1.0,
            bug_code: 401,
        }
    }
}

/// What a login came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Answer {
    pub code: u16,
}

impl Answer {
    pub fn success(self) -> bool {
        self.code == 200
    }
}

impl AuthBehaviour {
    /// Whether the bug affects `user`: the same users on every pod of the release.
    pub fn affects(&self, user: u32) -> bool {
        let h = fnv1a_32(&user.to_le_bytes());
        f64::from(h) / f64::from(u32::MAX) < self.bug_users
    }

    /// The answer to a login by `user`, given two uniform draws in [0, 1).
    pub fn answer(&self, user: u32, bug_draw: f64, password_draw: f64) -> Answer {
        let code = if self.bug > 0.0 && self.affects(user) && bug_draw < self.bug {
            self.bug_code
        } else if password_draw < self.baseline {
            401
        } else {
            200
        };
        Answer { code }
    }
}

/// `IMAGE=key:value,...` from the command line.
#[derive(Debug, Clone, PartialEq)]
pub struct Release {
    pub image: String,
    pub behaviour: AuthBehaviour,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReleaseError {
    #[error("`{0}`: write IMAGE=KEY:VALUE,... e.g. auth:2.0=baseline:0.02,bug:1.0,bug-users:0.1")]
    Shape(String),
    #[error("`{0}`: unknown key `{1}`; the keys are baseline, bug, bug-users, bug-code")]
    Key(String, String),
    #[error("`{0}`: {1} must be a share between 0 and 1, not `{2}`")]
    Share(String, &'static str, String),
    #[error("`{0}`: bug-code must be 401, 403 or 500, not `{1}`")]
    Code(String, String),
}

impl FromStr for Release {
    type Err = ReleaseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (image, settings) = s
            .split_once('=')
            .filter(|(i, _)| !i.is_empty())
            .ok_or_else(|| ReleaseError::Shape(s.into()))?;
        let mut behaviour = AuthBehaviour::default();
        for setting in settings.split(',').filter(|p| !p.is_empty()) {
            let (key, value) = setting
                .split_once(':')
                .ok_or_else(|| ReleaseError::Shape(s.into()))?;
            let share = |name: &'static str| {
                value
                    .parse::<f64>()
                    .ok()
                    .filter(|v| (0.0..=1.0).contains(v))
                    .ok_or_else(|| ReleaseError::Share(s.into(), name, value.into()))
            };
            match key {
                "baseline" => behaviour.baseline = share("baseline")?,
                "bug" => behaviour.bug = share("bug")?,
                "bug-users" => behaviour.bug_users = share("bug-users")?,
                "bug-code" => {
                    behaviour.bug_code = value
                        .parse()
                        .ok()
                        .filter(|c| [401, 403, 500].contains(c))
                        .ok_or_else(|| ReleaseError::Code(s.into(), value.into()))?
                }
                other => return Err(ReleaseError::Key(s.into(), other.into())),
            }
        }
        Ok(Release {
            image: image.to_string(),
            behaviour,
        })
    }
}
