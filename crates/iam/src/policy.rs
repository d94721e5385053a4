//! RAM policy documents: [`Policy::parse`] checks a document once, at start-up, and keeps it
//! in a form evaluation can use without failing.
//!
//! The language (RAM "policy structure and syntax"): `{"Version": "1", "Statement": [...]}`;
//! each statement has `Effect` (`Allow` or `Deny`), exactly one of `Action` / `NotAction`,
//! exactly one of `Resource` / `NotResource` (a string or a list of strings, `*` and `?`
//! wildcards), and optionally `Condition` and a `Sid` label. Anything else is refused with an
//! error naming the policy, the statement and the problem: a typo in a Deny must never
//! silently grant.

use serde_json::{Map, Value};

use crate::condition::{Condition, Key, Operator};
use crate::evaluate::RequestContext;
use crate::glob;

/// A parsed RAM policy.
#[derive(Clone, Debug, PartialEq)]
pub struct Policy {
    name: String,
    statements: Vec<Statement>,
}

/// Allow or Deny.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Effect {
    Allow,
    Deny,
}

/// Patterns that must match (`Action`, `Resource`) or must not (`NotAction`, `NotResource`).
#[derive(Clone, Debug, PartialEq, Eq)]
struct Patterns {
    negated: bool,
    patterns: Vec<String>,
}

impl Patterns {
    fn matches(&self, text: &str, ignore_case: bool) -> bool {
        let any = self
            .patterns
            .iter()
            .any(|pattern| glob::matches(pattern, text, ignore_case));
        any != self.negated
    }
}

#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Statement {
    pub(crate) effect: Effect,
    actions: Patterns,
    resources: Patterns,
    conditions: Vec<Condition>,
}

impl Statement {
    /// Whether this statement speaks about the request: action, resource and every condition
    /// match. Actions compare case-insensitively, resources case-sensitively (RAM).
    pub(crate) fn applies(&self, ctx: &RequestContext<'_>) -> bool {
        self.actions.matches(ctx.action, true)
            && self.resources.matches(ctx.resource, false)
            && self.conditions.iter().all(|c| c.holds(ctx))
    }
}

/// Why a policy document was refused: the policy's name and the problem.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("policy {policy:?}: {problem}")]
pub struct PolicyError {
    /// The policy's name.
    pub policy: String,
    /// What is wrong, and where.
    pub problem: Problem,
}

/// What is wrong with a policy document.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Problem {
    /// The document is not a JSON object.
    #[error("the document is not a JSON object: {0}")]
    NotJson(String),
    /// A key the language does not have (at the top level or in a statement).
    #[error("{at}: unknown key {key:?}")]
    UnknownKey {
        /// `the document` or `Statement N`.
        at: String,
        /// The key.
        key: String,
    },
    /// `Version` is missing or not `"1"`.
    #[error("Version must be \"1\", found {0}")]
    Version(String),
    /// `Statement` is missing or not a list of objects.
    #[error("Statement must be a list of statement objects")]
    Statement,
    /// `Effect` is missing or not `Allow` / `Deny`.
    #[error("{at}: Effect must be \"Allow\" or \"Deny\", found {found}")]
    Effect {
        /// `Statement N`.
        at: String,
        /// What was there.
        found: String,
    },
    /// Neither of a required pair (`Action`/`NotAction`, `Resource`/`NotResource`) is there.
    #[error("{at}: one of {first} or {second} is required")]
    Missing {
        /// `Statement N`.
        at: String,
        /// `Action` or `Resource`.
        first: &'static str,
        /// `NotAction` or `NotResource`.
        second: &'static str,
    },
    /// Both of an exclusive pair are there.
    #[error("{at}: {first} and {second} cannot both be given")]
    Both {
        /// `Statement N`.
        at: String,
        /// `Action` or `Resource`.
        first: &'static str,
        /// `NotAction` or `NotResource`.
        second: &'static str,
    },
    /// A value of the wrong shape (`Action` that is a number, an empty list, …).
    #[error("{at}: {field} {problem}")]
    Malformed {
        /// `Statement N`.
        at: String,
        /// The key whose value is wrong.
        field: String,
        /// What is wrong with it.
        problem: String,
    },
    /// A condition operator bpops does not support.
    #[error("{at}: unsupported condition operator {operator:?}")]
    UnsupportedOperator {
        /// `Statement N`.
        at: String,
        /// The operator.
        operator: String,
    },
    /// A condition key bpops does not support.
    #[error("{at}: unsupported condition key {key:?} (supported: {supported})")]
    UnsupportedKey {
        /// `Statement N`.
        at: String,
        /// The key.
        key: String,
        /// The supported keys.
        supported: String,
    },
}

const TOP_KEYS: [&str; 2] = ["Version", "Statement"];
const STATEMENT_KEYS: [&str; 7] = [
    "Sid",
    "Effect",
    "Action",
    "NotAction",
    "Resource",
    "NotResource",
    "Condition",
];

impl Policy {
    /// Parses the JSON document of the policy called `name`.
    ///
    /// # Errors
    ///
    /// A [`PolicyError`] naming the policy, the statement (`Statement 2`, or with its `Sid`)
    /// and the problem: not JSON, an unknown key, `Version` other than `"1"`, a bad `Effect`,
    /// a missing or doubled `Action`/`NotAction` or `Resource`/`NotResource`, an unsupported
    /// condition operator or key, or a malformed value.
    pub fn parse(name: &str, json: &str) -> Result<Policy, PolicyError> {
        parse_document(json).map_or_else(
            |problem| {
                Err(PolicyError {
                    policy: name.to_owned(),
                    problem,
                })
            },
            |statements| {
                Ok(Policy {
                    name: name.to_owned(),
                    statements,
                })
            },
        )
    }

    /// The policy's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    pub(crate) fn statements(&self) -> &[Statement] {
        &self.statements
    }
}

fn parse_document(json: &str) -> Result<Vec<Statement>, Problem> {
    let document: Map<String, Value> =
        serde_json::from_str(json).map_err(|e| Problem::NotJson(e.to_string()))?;
    refuse_unknown_keys(&document, &TOP_KEYS, "the document")?;
    match document.get("Version") {
        Some(Value::String(v)) if v == "1" => {}
        Some(other) => return Err(Problem::Version(other.to_string())),
        None => return Err(Problem::Version("nothing".to_owned())),
    }
    let statements = match document.get("Statement") {
        Some(Value::Array(items)) => items.iter().collect::<Vec<_>>(),
        // A lone statement object is accepted, as RAM's and IAM's parsers do.
        Some(item @ Value::Object(_)) => vec![item],
        _ => return Err(Problem::Statement),
    };
    statements
        .into_iter()
        .enumerate()
        .map(|(n, item)| {
            let Value::Object(statement) = item else {
                return Err(Problem::Statement);
            };
            parse_statement(statement, n + 1)
        })
        .collect()
}

fn refuse_unknown_keys(
    object: &Map<String, Value>,
    known: &[&str],
    at: &str,
) -> Result<(), Problem> {
    match object.keys().find(|key| !known.contains(&key.as_str())) {
        Some(key) => Err(Problem::UnknownKey {
            at: at.to_owned(),
            key: key.clone(),
        }),
        None => Ok(()),
    }
}

fn parse_statement(statement: &Map<String, Value>, number: usize) -> Result<Statement, Problem> {
    let at = match statement.get("Sid") {
        Some(Value::String(sid)) => format!("Statement {number} ({sid})"),
        _ => format!("Statement {number}"),
    };
    refuse_unknown_keys(statement, &STATEMENT_KEYS, &at)?;
    let malformed = |field: &str, problem: &str| Problem::Malformed {
        at: at.clone(),
        field: field.to_owned(),
        problem: problem.to_owned(),
    };
    if statement.get("Sid").is_some_and(|sid| !sid.is_string()) {
        return Err(malformed("Sid", "must be a string"));
    }
    let effect = match statement.get("Effect") {
        Some(Value::String(e)) if e == "Allow" => Effect::Allow,
        Some(Value::String(e)) if e == "Deny" => Effect::Deny,
        other => {
            return Err(Problem::Effect {
                at: at.clone(),
                found: other.map_or("nothing".to_owned(), Value::to_string),
            });
        }
    };
    let actions = patterns(statement, &at, "Action", "NotAction")?;
    let resources = patterns(statement, &at, "Resource", "NotResource")?;
    let conditions = match statement.get("Condition") {
        None => Vec::new(),
        Some(Value::Object(block)) => conditions(block, &at)?,
        Some(_) => return Err(malformed("Condition", "must be an object")),
    };
    Ok(Statement {
        effect,
        actions,
        resources,
        conditions,
    })
}

/// Reads exactly one of `positive` / `negative`: a non-empty string or list of them.
fn patterns(
    statement: &Map<String, Value>,
    at: &str,
    positive: &'static str,
    negative: &'static str,
) -> Result<Patterns, Problem> {
    let (field, value, negated) = match (statement.get(positive), statement.get(negative)) {
        (Some(value), None) => (positive, value, false),
        (None, Some(value)) => (negative, value, true),
        (Some(_), Some(_)) => {
            return Err(Problem::Both {
                at: at.to_owned(),
                first: positive,
                second: negative,
            });
        }
        (None, None) => {
            return Err(Problem::Missing {
                at: at.to_owned(),
                first: positive,
                second: negative,
            });
        }
    };
    let malformed = || Problem::Malformed {
        at: at.to_owned(),
        field: field.to_owned(),
        problem: "must be a non-empty string or a non-empty list of non-empty strings".to_owned(),
    };
    let patterns: Vec<String> = match value {
        Value::String(s) => vec![s.clone()],
        Value::Array(items) => items
            .iter()
            .map(|item| item.as_str().map(str::to_owned))
            .collect::<Option<_>>()
            .ok_or_else(malformed)?,
        _ => return Err(malformed()),
    };
    if patterns.is_empty() || patterns.iter().any(String::is_empty) {
        return Err(malformed());
    }
    Ok(Patterns { negated, patterns })
}

fn conditions(block: &Map<String, Value>, at: &str) -> Result<Vec<Condition>, Problem> {
    let mut all = Vec::new();
    for (operator_name, entries) in block {
        let operator =
            Operator::parse(operator_name).ok_or_else(|| Problem::UnsupportedOperator {
                at: at.to_owned(),
                operator: operator_name.clone(),
            })?;
        let Value::Object(entries) = entries else {
            return Err(Problem::Malformed {
                at: at.to_owned(),
                field: format!("Condition.{operator_name}"),
                problem: "must be an object of condition keys".to_owned(),
            });
        };
        if entries.is_empty() {
            return Err(Problem::Malformed {
                at: at.to_owned(),
                field: format!("Condition.{operator_name}"),
                problem: "names no condition key".to_owned(),
            });
        }
        for (key_name, values) in entries {
            let key = Key::parse(key_name).ok_or_else(|| Problem::UnsupportedKey {
                at: at.to_owned(),
                key: key_name.clone(),
                supported: Key::names(),
            })?;
            let condition =
                Condition::new(operator, key, values).map_err(|problem| Problem::Malformed {
                    at: at.to_owned(),
                    field: format!("Condition.{operator_name}.{key_name}"),
                    problem,
                })?;
            all.push(condition);
        }
    }
    Ok(all)
}
