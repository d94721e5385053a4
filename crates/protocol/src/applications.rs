//! Typed requests and responses of the application family: `ListTemplate`, `GetTemplate`,
//! `CreateApplication`, `GetApplication`, `ListApplication` and `DeleteApplication`, with the
//! names the SDK models read (`alibabacloud-bpstudio20210931` 8.1.1).
//!
//! Every SDK mode sends these parameters in the form body; maps (`Variables`,
//! `Configuration`) arrive as JSON text. Parameters the models have but bpops does not act on
//! (`CreateAsync`, `Instances`, `ProcessVariables`, `ShowHide`, `Tag`, `TagList`, `Type`,
//! `Region`) are accepted and ignored. Listings page by page number, as BPStudio does:
//! `NextToken` is the page (from 1), `MaxResults` its size.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::params::Params;
use crate::wire::{
    MAX_CLIENT_TOKEN_CHARS, MAX_PARAM_CHARS, RequestError, json_object, optional, required,
};

/// `MaxResults` of a listing when the request has none.
pub const DEFAULT_PAGE_SIZE: u32 = 10;

/// The largest `MaxResults` of a listing (BPStudio's bound).
pub const MAX_PAGE_SIZE: u32 = 50;

/// The largest page number (`NextToken`) of a listing (BPStudio's bound).
pub const MAX_PAGE: u32 = 10_000;

/// A page of a listing, as the request asks for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageRequest {
    /// `NextToken`: the page number, from 1 (1 when absent).
    pub number: u32,
    /// `MaxResults`: 1 to [`MAX_PAGE_SIZE`] ([`DEFAULT_PAGE_SIZE`] when absent).
    pub size: u32,
}

impl PageRequest {
    fn from_params(p: &Params) -> Result<Self, RequestError> {
        Ok(Self {
            number: whole(p, "NextToken", 1, MAX_PAGE)?.unwrap_or(1),
            size: whole(p, "MaxResults", 1, MAX_PAGE_SIZE)?.unwrap_or(DEFAULT_PAGE_SIZE),
        })
    }

    /// The `NextToken` of the answer: the next page's number, `None` on the last page.
    pub fn next(self, total: u64) -> Option<u32> {
        (u64::from(self.number) * u64::from(self.size) < total).then_some(self.number + 1)
    }
}

/// `ListTemplate`: a page of the templates the caller can create applications from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListTemplateRequest {
    /// `Keyword`: only templates whose name contains it.
    pub keyword: Option<String>,
    /// `ResourceGroupId`, used for permission checks.
    pub resource_group_id: Option<String>,
    /// `NextToken` and `MaxResults`.
    pub page: PageRequest,
}

impl ListTemplateRequest {
    /// Reads the request from its parameters.
    ///
    /// # Errors
    ///
    /// [`RequestError::Invalid`] for a page out of bounds or a value over its limit.
    pub fn from_params(p: &Params) -> Result<Self, RequestError> {
        Ok(Self {
            keyword: optional(p, "Keyword", MAX_PARAM_CHARS)?,
            resource_group_id: optional(p, "ResourceGroupId", MAX_PARAM_CHARS)?,
            page: PageRequest::from_params(p)?,
        })
    }
}

/// `GetTemplate`: one template with its variables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GetTemplateRequest {
    /// `TemplateId`, required.
    pub template_id: String,
    /// `ResourceGroupId`, used for permission checks.
    pub resource_group_id: Option<String>,
}

impl GetTemplateRequest {
    /// Reads the request from its parameters.
    ///
    /// # Errors
    ///
    /// [`RequestError::Missing`] without a `TemplateId`; [`RequestError::Invalid`] for a value
    /// over its limit.
    pub fn from_params(p: &Params) -> Result<Self, RequestError> {
        Ok(Self {
            template_id: required(p, "TemplateId", MAX_PARAM_CHARS)?,
            resource_group_id: optional(p, "ResourceGroupId", MAX_PARAM_CHARS)?,
        })
    }
}

/// `CreateApplication`: a new application from a template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateApplicationRequest {
    /// `Name`, required, checked against BPStudio's rules ([`check_application_name`]).
    pub name: String,
    /// `TemplateId`, required.
    pub template_id: String,
    /// `ResourceGroupId`: the group the application is created in.
    pub resource_group_id: Option<String>,
    /// `AreaId`: the region it deploys to.
    pub area_id: Option<String>,
    /// `Variables`: values of the template's variables.
    pub variables: Map<String, Value>,
    /// `Configuration`: kept as given.
    pub configuration: Map<String, Value>,
    /// `ClientToken`, the idempotency key.
    pub client_token: Option<String>,
}

impl CreateApplicationRequest {
    /// Reads the request from its parameters.
    ///
    /// # Errors
    ///
    /// [`RequestError::Missing`] without `Name` or `TemplateId`; [`RequestError::Invalid`] for
    /// a name against the rules, `Variables` or `Configuration` that are not a JSON object,
    /// or a value over its limit.
    pub fn from_params(p: &Params) -> Result<Self, RequestError> {
        let name = required(p, "Name", MAX_PARAM_CHARS)?;
        check_application_name(&name).map_err(|reason| RequestError::Invalid {
            name: "Name",
            reason: reason.to_owned(),
        })?;
        Ok(Self {
            name,
            template_id: required(p, "TemplateId", MAX_PARAM_CHARS)?,
            resource_group_id: optional(p, "ResourceGroupId", MAX_PARAM_CHARS)?,
            area_id: optional(p, "AreaId", MAX_PARAM_CHARS)?,
            variables: json_object(p, "Variables")?,
            configuration: json_object(p, "Configuration")?,
            client_token: optional(p, "ClientToken", MAX_CLIENT_TOKEN_CHARS)?,
        })
    }
}

/// BPStudio's rules for an application name: 2 to 128 characters, letters, digits, `_` and
/// `-`, starting with a letter, and not starting with `http://` or `https://`.
///
/// # Errors
///
/// The rule the name breaks.
pub fn check_application_name(name: &str) -> Result<(), &'static str> {
    let length = name.chars().count();
    if !(2..=128).contains(&length) {
        return Err("must be 2 to 128 characters long");
    }
    if name.starts_with("http://") || name.starts_with("https://") {
        return Err("must not start with http:// or https://");
    }
    if !name.chars().next().is_some_and(char::is_alphabetic) {
        return Err("must start with a letter");
    }
    if !name
        .chars()
        .all(|c| c.is_alphanumeric() || c == '_' || c == '-')
    {
        return Err("may contain only letters, digits, underscores (_) and hyphens (-)");
    }
    Ok(())
}

/// `GetApplication`, `DeleteApplication` and the lifecycle steps (`ValidateApplication`,
/// `ValuateApplication`, `DeployApplication`, `ReleaseApplication`), which take the same
/// parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApplicationRequest {
    /// `ApplicationId`, required.
    pub application_id: String,
    /// `ResourceGroupId`: the group the application must be in.
    pub resource_group_id: Option<String>,
    /// `ClientToken`, for the idempotency of a step.
    pub client_token: Option<String>,
}

impl ApplicationRequest {
    /// Reads the request from its parameters.
    ///
    /// # Errors
    ///
    /// [`RequestError::Missing`] without an `ApplicationId`; [`RequestError::Invalid`] for a
    /// value over its limit.
    pub fn from_params(p: &Params) -> Result<Self, RequestError> {
        Ok(Self {
            application_id: required(p, "ApplicationId", MAX_PARAM_CHARS)?,
            resource_group_id: optional(p, "ResourceGroupId", MAX_PARAM_CHARS)?,
            client_token: optional(p, "ClientToken", MAX_CLIENT_TOKEN_CHARS)?,
        })
    }
}

/// `ListApplication`: a page of the caller's applications.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListApplicationRequest {
    /// `Keyword`: only applications whose name contains it.
    pub keyword: Option<String>,
    /// `Status`: a status, or BPStudio's `success` (`Deployed_Success`) or `release`
    /// (`Destroyed_Success` and `Destroyed_Failure`); checked by the caller, which knows the
    /// statuses.
    pub status: Option<String>,
    /// `TemplateId`.
    pub template_id: Option<String>,
    /// `ResourceId`: only the application holding this resource.
    pub resource_id: Option<String>,
    /// `ResourceGroupId`: only applications of this group.
    pub resource_group_id: Option<String>,
    /// `OrderType`: newest first by the time they last changed (1, the default) or by
    /// creation (2).
    pub by_creation: bool,
    /// `NextToken` and `MaxResults`.
    pub page: PageRequest,
}

impl ListApplicationRequest {
    /// Reads the request from its parameters.
    ///
    /// # Errors
    ///
    /// [`RequestError::Invalid`] for an `OrderType` other than 1 or 2, a page out of bounds,
    /// or a value over its limit.
    pub fn from_params(p: &Params) -> Result<Self, RequestError> {
        Ok(Self {
            keyword: optional(p, "Keyword", MAX_PARAM_CHARS)?,
            status: optional(p, "Status", MAX_PARAM_CHARS)?,
            template_id: optional(p, "TemplateId", MAX_PARAM_CHARS)?,
            resource_id: optional(p, "ResourceId", MAX_PARAM_CHARS)?,
            resource_group_id: optional(p, "ResourceGroupId", MAX_PARAM_CHARS)?,
            by_creation: whole(p, "OrderType", 1, 2)? == Some(2),
            page: PageRequest::from_params(p)?,
        })
    }
}

/// A whole-number parameter from `min` to `max`, if present.
fn whole(p: &Params, name: &'static str, min: u32, max: u32) -> Result<Option<u32>, RequestError> {
    optional(p, name, MAX_PARAM_CHARS)?
        .map(|text| {
            text.parse()
                .ok()
                .filter(|n| (min..=max).contains(n))
                .ok_or_else(|| RequestError::Invalid {
                    name,
                    reason: format!("must be a whole number from {min} to {max}"),
                })
        })
        .transpose()
}

/// One element of the `Data` list of ListTemplate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TemplateItem {
    /// `TemplateId`.
    pub template_id: String,
    /// `Name`.
    pub name: String,
    /// `Description`.
    pub description: String,
}

/// `Data` of GetTemplate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TemplateDetail {
    /// `TemplateId`.
    pub template_id: String,
    /// `Name`.
    pub name: String,
    /// `Description`.
    pub description: String,
    /// `Variables`.
    pub variables: Vec<TemplateVariable>,
}

/// One element of a template's `Variables`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TemplateVariable {
    /// `Variable`: its name.
    pub variable: String,
    /// `DataType`: `string`, `number` or `boolean`.
    pub data_type: String,
    /// `DefaultValue`: the default as JSON text; omitted when there is none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default_value: Option<String>,
    /// `Attribute`: what it means.
    pub attribute: String,
}

/// One element of the `Data` list of ListApplication.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ApplicationItem {
    /// `ApplicationId`.
    pub application_id: String,
    /// `Name`.
    pub name: String,
    /// `Status`, e.g. `Modified`.
    pub status: String,
    /// `CreateTime`, `YYYY-MM-DD hh:mm:ss` in UTC.
    pub create_time: String,
    /// `ResourceGroupId`; omitted for an application in no group.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource_group_id: Option<String>,
}

/// `Data` of GetApplication.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ApplicationDetail {
    /// `ApplicationId`.
    pub application_id: String,
    /// `Name`.
    pub name: String,
    /// `Status`.
    pub status: String,
    /// `TemplateId`; empty for an application the configuration declared.
    pub template_id: String,
    /// `ResourceGroupId`; omitted for an application in no group.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource_group_id: Option<String>,
    /// `CreateTime`, `YYYY-MM-DD hh:mm:ss` in UTC.
    pub create_time: String,
    /// `DeployPercent`, 0 to 100.
    pub deploy_percent: f64,
    /// `Error`: why the last step failed; empty when it did not.
    pub error: String,
    /// `Checklist`: the results of the last validation.
    pub checklist: Vec<Value>,
    /// `PriceList`: the prices of the last valuation.
    pub price_list: Vec<Value>,
    /// `ResourceList`: the resources it holds now.
    pub resource_list: Vec<ApplicationResource>,
}

/// One element of an application's `ResourceList`: an inventory resource as operations left
/// it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ApplicationResource {
    /// `ResourceId`, e.g. `i-web1`.
    pub resource_id: String,
    /// `ResourceName`: its name property (`instance_name`), else its id.
    pub resource_name: String,
    /// `ResourceType`: the service type, `ecs` or `slb`.
    pub resource_type: String,
    /// `ResourceCode`: the service code, the same as the type.
    pub resource_code: String,
    /// `Status`: its `status` property, empty when it has none.
    pub status: String,
    /// `ChargeType`: its `pay_type` property; omitted when it has none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub charge_type: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::params::form as params;

    #[test]
    fn application_names_follow_bpstudio_rules() {
        for good in ["ab", "web-tier_1", "应用a", &"a".repeat(128)] {
            assert_eq!(check_application_name(good), Ok(()), "{good}");
        }
        for bad in [
            "a",
            &"a".repeat(129),
            "1abc",
            "-abc",
            "http://x",
            "https://x",
            "web tier",
            "web.tier",
        ] {
            assert!(check_application_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn create_reads_maps_from_json_text() {
        let request = CreateApplicationRequest::from_params(&params(&[
            ("Name", "web"),
            ("TemplateId", "web-tier"),
            ("Variables", r#"{"listener_port": 8080}"#),
            ("Configuration", r#"{"enableMonitor":"1"}"#),
            ("CreateAsync", "false"),
        ]))
        .unwrap();
        assert_eq!(request.variables["listener_port"], 8080);
        assert_eq!(request.configuration["enableMonitor"], "1");
        assert_eq!(request.area_id, None);
        assert_eq!(
            CreateApplicationRequest::from_params(&params(&[("Name", "web")])),
            Err(RequestError::Missing("TemplateId"))
        );
        assert!(matches!(
            CreateApplicationRequest::from_params(&params(&[
                ("Name", "web"),
                ("TemplateId", "t"),
                ("Variables", "[1]")
            ])),
            Err(RequestError::Invalid {
                name: "Variables",
                ..
            })
        ));
    }

    #[test]
    fn listings_page_by_number_within_bounds() {
        let request = ListApplicationRequest::from_params(&params(&[])).unwrap();
        assert_eq!(
            request.page,
            PageRequest {
                number: 1,
                size: DEFAULT_PAGE_SIZE
            }
        );
        assert!(!request.by_creation);
        for (name, value) in [
            ("MaxResults", "0"),
            ("MaxResults", "51"),
            ("NextToken", "0"),
            ("NextToken", "x"),
            ("OrderType", "3"),
        ] {
            let result = ListApplicationRequest::from_params(&params(&[(name, value)]));
            assert!(
                matches!(&result, Err(RequestError::Invalid { name: n, .. }) if *n == name),
                "{name}={value}: {result:?}"
            );
        }
        let page = PageRequest { number: 2, size: 2 };
        assert_eq!(page.next(5), Some(3));
        assert_eq!(page.next(4), None);
    }
}
