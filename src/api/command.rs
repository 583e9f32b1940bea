//! Commands from people and pipelines (`portcullis promote`, `kubectl annotate`, ...).
//!
//! A command is the annotation `portcullis.dev/command: "<verb>:<id>"` on the Rollout.
//! `<id>` is any token unique per command (the CLI uses a timestamp and random suffix).
//! The controller acts on a command once: it records `status.lastCommand.id`, and an
//! annotation whose id equals that is already done. So commands are idempotent, survive
//! controller restarts, and a pipeline can wait for `status.lastCommand.id == <id>` to
//! learn whether it was accepted. One command at a time: a newer annotation replaces an
//! older one that was not yet seen.

use std::fmt;
use std::str::FromStr;

pub const ANNOTATION: &str = "portcullis.dev/command";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Verb {
    /// End the current pause (a `pause: {}` step or an inconclusive analysis step).
    Promote,
    /// Skip every remaining step and promote now (refused after a failed verdict).
    PromoteFull,
    /// Stop the canary and send all traffic back to stable.
    Abort,
    /// Run the rejected revision's canary again from the first step.
    Retry,
    /// Hold at the current step and weight.
    Pause,
    /// Undo `pause` (and an `onError: pause`).
    Resume,
    /// Start the new revision's canary even inside a freeze window.
    OverrideFreeze,
}

impl Verb {
    pub const ALL: [Verb; 7] = [
        Verb::Promote,
        Verb::PromoteFull,
        Verb::Abort,
        Verb::Retry,
        Verb::Pause,
        Verb::Resume,
        Verb::OverrideFreeze,
    ];

    pub fn as_str(&self) -> &'static str {
        match self {
            Verb::Promote => "promote",
            Verb::PromoteFull => "promote-full",
            Verb::Abort => "abort",
            Verb::Retry => "retry",
            Verb::Pause => "pause",
            Verb::Resume => "resume",
            Verb::OverrideFreeze => "override-freeze",
        }
    }
}

impl fmt::Display for Verb {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A command as found on the Rollout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    pub verb: Verb,
    pub id: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommandError {
    #[error("command `{0}` must look like `<verb>:<id>`, e.g. `promote:20261125-1`")]
    Shape(String),
    #[error(
        "unknown command verb `{0}`; known: promote, promote-full, abort, retry, pause, resume, override-freeze"
    )]
    UnknownVerb(String),
}

impl FromStr for Command {
    type Err = CommandError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (verb, id) = s
            .trim()
            .split_once(':')
            .ok_or_else(|| CommandError::Shape(s.to_string()))?;
        if id.is_empty() || id.contains(char::is_whitespace) {
            return Err(CommandError::Shape(s.to_string()));
        }
        let verb = Verb::ALL
            .into_iter()
            .find(|v| v.as_str() == verb)
            .ok_or_else(|| CommandError::UnknownVerb(verb.to_string()))?;
        Ok(Command {
            verb,
            id: id.to_string(),
        })
    }
}

impl fmt::Display for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.verb, self.id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_every_verb() {
        for verb in Verb::ALL {
            let c = Command {
                verb,
                id: "abc-1".into(),
            };
            assert_eq!(c.to_string().parse::<Command>().unwrap(), c);
        }
    }

    #[test]
    fn rejects_malformed_commands_with_a_hint() {
        assert!(matches!(
            "promote".parse::<Command>(),
            Err(CommandError::Shape(_))
        ));
        assert!(matches!(
            "promote:".parse::<Command>(),
            Err(CommandError::Shape(_))
        ));
        assert!(matches!(
            "promote:a b".parse::<Command>(),
            Err(CommandError::Shape(_))
        ));
        assert_eq!(
            "ship-it:1".parse::<Command>(),
            Err(CommandError::UnknownVerb("ship-it".into()))
        );
    }
}
