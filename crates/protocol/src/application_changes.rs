//! Typed requests and responses of the actions that change an application after its
//! creation, or read what may be changed: `ChangeResourceGroup`, `GetApplicationVariables`
//! and `ReConfigApplication`, with the names the SDK models read
//! (`alibabacloud-bpstudio20210931` 8.1.1).
//!
//! None of the three has a `ResourceGroupId` in BPStudio's models: they name the application
//! itself (`ResourceId`, `AppId`), and through it its group.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::params::Params;
use crate::wire::{MAX_PARAM_CHARS, RequestError, json_object, required};

/// The `ResourceType` of `ChangeResourceGroup` that bpops moves: an application.
pub const APPLICATION_RESOURCE_TYPE: &str = "APPLICATION";

/// `ChangeResourceGroup`: moves an application to another resource group of its account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeResourceGroupRequest {
    /// `ResourceId`: the application's id, required.
    pub resource_id: String,
    /// `NewResourceGroupId`: the group to move it to, required.
    pub new_resource_group_id: String,
}

impl ChangeResourceGroupRequest {
    /// Reads the request from its parameters.
    ///
    /// # Errors
    ///
    /// [`RequestError::Missing`] without `ResourceId`, `NewResourceGroupId` or `ResourceType`;
    /// [`RequestError::Invalid`] for a `ResourceType` other than `APPLICATION`, or a value
    /// over its limit.
    pub fn from_params(p: &Params) -> Result<Self, RequestError> {
        let resource_type = required(p, "ResourceType", MAX_PARAM_CHARS)?;
        // BPStudio also moves its per-account templates (`TEMPLATE`); bpops's templates are the
        // same for every account and in no resource group, so there is nothing to move.
        if resource_type != APPLICATION_RESOURCE_TYPE {
            return Err(RequestError::Invalid {
                name: "ResourceType",
                reason: format!(
                    "must be {APPLICATION_RESOURCE_TYPE}: templates are shared by every account \
                     and belong to no resource group"
                ),
            });
        }
        Ok(Self {
            resource_id: required(p, "ResourceId", MAX_PARAM_CHARS)?,
            new_resource_group_id: required(p, "NewResourceGroupId", MAX_PARAM_CHARS)?,
        })
    }
}

/// `GetApplicationVariables`: the values of an application's variables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GetApplicationVariablesRequest {
    /// `AppId`: the application's id, required.
    pub app_id: String,
}

impl GetApplicationVariablesRequest {
    /// Reads the request from its parameters.
    ///
    /// # Errors
    ///
    /// [`RequestError::Missing`] without `AppId`; [`RequestError::Invalid`] for one over its
    /// limit.
    pub fn from_params(p: &Params) -> Result<Self, RequestError> {
        Ok(Self {
            app_id: required(p, "AppId", MAX_PARAM_CHARS)?,
        })
    }
}

/// `ReConfigApplication`: new values for some of an application's variables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReConfigApplicationRequest {
    /// `AppId`: the application's id, required.
    pub app_id: String,
    /// `Variables`: the new values by variable name, at least one. A name may be written
    /// `name` (as `CreateApplication` takes it) or `${name}` (as BPStudio's API reference
    /// writes it); the braces are taken off here.
    pub variables: Map<String, Value>,
}

impl ReConfigApplicationRequest {
    /// Reads the request from its parameters.
    ///
    /// # Errors
    ///
    /// [`RequestError::Missing`] without `AppId` or `Variables` (or with `{}`);
    /// [`RequestError::Invalid`] for `Variables` that are not a JSON object, that name one
    /// variable twice (as `name` and `${name}`), or a value over its limit.
    pub fn from_params(p: &Params) -> Result<Self, RequestError> {
        let app_id = required(p, "AppId", MAX_PARAM_CHARS)?;
        let given = json_object(p, "Variables")?;
        if given.is_empty() {
            return Err(RequestError::Missing("Variables"));
        }
        let mut variables = Map::new();
        for (key, value) in given {
            let name = key
                .strip_prefix("${")
                .and_then(|rest| rest.strip_suffix('}'))
                .unwrap_or(&key)
                .to_owned();
            if variables.insert(name.clone(), value).is_some() {
                return Err(RequestError::Invalid {
                    name: "Variables",
                    reason: format!("names the variable \"{name}\" twice"),
                });
            }
        }
        Ok(Self { app_id, variables })
    }
}

/// One element of the `Data` list of GetApplicationVariables.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ApplicationVariables {
    /// `InstanceId`: BPStudio's id of the deployed instance of its template; in bpops an
    /// application is the one instance of its template, so its id.
    pub instance_id: String,
    /// `VariableList`.
    pub variable_list: Vec<VariableValue>,
}

/// One element of a `VariableList`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct VariableValue {
    /// `Variable`: its name as BPStudio's API reference writes it, `${name}`.
    pub variable: String,
    /// `Value`: a string as itself, any other value as JSON text.
    pub value: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::params::form as params;

    #[test]
    fn change_resource_group_moves_applications_only() {
        let request = ChangeResourceGroupRequest::from_params(&params(&[
            ("ResourceId", "JIX9NEZUALGS46UI"),
            ("NewResourceGroupId", "rg-dev"),
            ("ResourceType", "APPLICATION"),
        ]))
        .unwrap();
        assert_eq!(request.new_resource_group_id, "rg-dev");
        for resource_type in ["TEMPLATE", "application", "INSTANCE"] {
            let result = ChangeResourceGroupRequest::from_params(&params(&[
                ("ResourceId", "JIX9NEZUALGS46UI"),
                ("NewResourceGroupId", "rg-dev"),
                ("ResourceType", resource_type),
            ]));
            assert!(
                matches!(
                    result,
                    Err(RequestError::Invalid {
                        name: "ResourceType",
                        ..
                    })
                ),
                "{resource_type}: {result:?}"
            );
        }
        assert_eq!(
            ChangeResourceGroupRequest::from_params(&params(&[
                ("ResourceId", "JIX9NEZUALGS46UI"),
                ("ResourceType", "APPLICATION"),
            ])),
            Err(RequestError::Missing("NewResourceGroupId"))
        );
    }

    #[test]
    fn reconfig_takes_names_with_or_without_braces_once() {
        let request = ReConfigApplicationRequest::from_params(&params(&[
            ("AppId", "JIX9NEZUALGS46UI"),
            (
                "Variables",
                r#"{"${instance_type}": "ecs.c7.large", "listener_port": 8080}"#,
            ),
        ]))
        .unwrap();
        assert_eq!(request.variables["instance_type"], "ecs.c7.large");
        assert_eq!(request.variables["listener_port"], 8080);
        let twice = ReConfigApplicationRequest::from_params(&params(&[
            ("AppId", "JIX9NEZUALGS46UI"),
            ("Variables", r#"{"${port}": 1, "port": 2}"#),
        ]));
        assert!(matches!(
            twice,
            Err(RequestError::Invalid {
                name: "Variables",
                ..
            })
        ));
        for empty in ["", "{}"] {
            assert_eq!(
                ReConfigApplicationRequest::from_params(&params(&[
                    ("AppId", "JIX9NEZUALGS46UI"),
                    ("Variables", empty),
                ])),
                Err(RequestError::Missing("Variables"))
            );
        }
    }
}
