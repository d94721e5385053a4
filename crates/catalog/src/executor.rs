//! How an operation runs: the closed [`Executor`] enum and the specs of the two I/O kinds,
//! [`CommandSpec`] and [`HttpSpec`].
//!
//! These are plain data. Running a program or calling a URL is I/O and lives in the
//! `bpops-executors` crate; the engine matches on [`Executor`] in one place and calls the
//! emulated function here or the I/O function there.

use std::path::PathBuf;

use secrecy::SecretString;

/// How an operation runs. A closed enum matched in one place (the engine's worker).
#[derive(Debug, Clone)]
pub enum Executor {
    /// A built-in operation computed by [`run_emulated`](crate::run_emulated) against
    /// bpops's own inventory.
    Emulated,
    /// A declared operation that runs a program.
    Command(CommandSpec),
    /// A declared operation that POSTs to an HTTP endpoint.
    Http(HttpSpec),
}

impl Executor {
    /// The kind's name as the configuration spells it (`emulated`, `command`, `http`); shown
    /// in GetOperationParams `Properties`.
    pub fn kind(&self) -> &'static str {
        match self {
            Executor::Emulated => "emulated",
            Executor::Command(_) => "command",
            Executor::Http(_) => "http",
        }
    }
}

/// A program to run, without a shell.
///
/// `program` was resolved when the configuration was loaded (an absolute path, or a name found
/// on `PATH` then), because the program runs with a cleared environment where `PATH` lookup
/// is no longer possible.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandSpec {
    /// The program's absolute path.
    pub program: PathBuf,
    /// The arguments after the program (`argv[1..]`).
    pub args: Vec<String>,
}

/// An endpoint to POST the operation to.
#[derive(Debug, Clone)]
pub struct HttpSpec {
    /// An `http://` URL, checked for shape when the configuration was loaded.
    pub url: String,
    /// The key of the request's HMAC signature. Its `Debug` never shows the value, so it
    /// cannot reach a log.
    pub secret: SecretString,
}

#[cfg(test)]
mod tests {
    use secrecy::ExposeSecret;

    use super::*;

    #[test]
    fn secret_debug_is_redacted_everywhere_it_is_nested() {
        let spec = HttpSpec {
            url: "http://127.0.0.1:9000/hook".into(),
            secret: SecretString::from("hunter2-very-secret"),
        };
        let shown = format!("{:?}", Executor::Http(spec.clone()));
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("[REDACTED]"), "{shown}");
        assert_eq!(spec.secret.expose_secret(), "hunter2-very-secret");
    }

    #[test]
    fn kinds_are_named_as_the_configuration_spells_them() {
        let command = Executor::Command(CommandSpec {
            program: "/bin/true".into(),
            args: vec![],
        });
        assert_eq!(Executor::Emulated.kind(), "emulated");
        assert_eq!(command.kind(), "command");
    }
}
