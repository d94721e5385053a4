//! Typed requests and responses of the served actions, with the PascalCase names the SDK models
//! read (wire-protocol.md §4.1, product.md "The API").
//!
//! Requests are built from [`Params`] and refuse what the API must answer with
//! `MissingParameter` or `InvalidParameter` ([`RequestError`]). An empty value counts as absent
//! everywhere: the SDKs send `Key=` for a caller's empty string (§1.1), and no parameter here has
//! a meaningful empty value. Every value is bounded, so nothing unbounded reaches the engine.
//! Responses serialize to exactly the shapes the SDK models map; `Deserialize` is for the CLI and
//! tests.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::params::Params;

/// The longest `ServiceType`, `Operation`, `ApplicationId`, `ResourceGroupId` or `OperationId`
/// accepted, in characters.
pub const MAX_PARAM_CHARS: usize = 128;

/// The longest `ClientToken` accepted, in characters (the usual Alibaba Cloud bound).
pub const MAX_CLIENT_TOKEN_CHARS: usize = 64;

/// The longest `Attributes` JSON text accepted, in bytes.
pub const MAX_ATTRIBUTES_BYTES: usize = 64 * 1024;

/// Why a typed request could not be built from the parameters.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    /// A required parameter is absent or empty; answered with `MissingParameter`.
    #[error("required parameter {0} is missing")]
    Missing(&'static str),
    /// A parameter is present but unusable; answered with `InvalidParameter`.
    #[error("parameter {name} is invalid: {reason}")]
    Invalid {
        /// The wire name of the parameter, e.g. `Attributes`.
        name: &'static str,
        /// What is wrong with it, without repeating the value.
        reason: String,
    },
}

/// `ListOperations`: the operations of one service type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListOperationsRequest {
    /// `ServiceType`, required (tea sends it in the query, §1.1).
    pub service_type: String,
}

impl ListOperationsRequest {
    /// Reads the request from its parameters.
    ///
    /// # Errors
    ///
    /// [`RequestError::Missing`] without a `ServiceType`, [`RequestError::Invalid`] when it is
    /// over [`MAX_PARAM_CHARS`].
    pub fn from_params(p: &Params) -> Result<Self, RequestError> {
        Ok(Self {
            service_type: required(p, "ServiceType", MAX_PARAM_CHARS)?,
        })
    }
}

/// `GetOperationParams`: the parameter schema and outputs of one operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GetOperationParamsRequest {
    /// `ServiceType`, required.
    pub service_type: String,
    /// `Operation`, required.
    pub operation: String,
}

impl GetOperationParamsRequest {
    /// Reads the request from its parameters.
    ///
    /// # Errors
    ///
    /// [`RequestError::Missing`] without `ServiceType` or `Operation`, [`RequestError::Invalid`]
    /// when one is over [`MAX_PARAM_CHARS`].
    pub fn from_params(p: &Params) -> Result<Self, RequestError> {
        Ok(Self {
            service_type: required(p, "ServiceType", MAX_PARAM_CHARS)?,
            operation: required(p, "Operation", MAX_PARAM_CHARS)?,
        })
    }
}

/// `ExecuteOperationASync` and `ExecuteOperationSync`, which take the same parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecuteOperationRequest {
    /// `ServiceType`, required.
    pub service_type: String,
    /// `Operation`, required.
    pub operation: String,
    /// `Attributes`, a JSON object sent as text; empty when absent, empty or `null`.
    pub attributes: Map<String, Value>,
    /// `ApplicationId`, the application the operation acts in.
    pub application_id: Option<String>,
    /// `ClientToken`, the idempotency key.
    pub client_token: Option<String>,
    /// `ResourceGroupId`, used for permission checks.
    pub resource_group_id: Option<String>,
}

impl ExecuteOperationRequest {
    /// Reads the request from its parameters.
    ///
    /// `Attributes` is parsed as JSON, never compared as text: clients differ in separators,
    /// key order and `\u` escapes (§1.1). A `null` means "no attributes": it is what tea sends
    /// when its caller wrongly passed a JSON string.
    ///
    /// # Errors
    ///
    /// [`RequestError::Missing`] without `ServiceType` or `Operation`; [`RequestError::Invalid`]
    /// when `Attributes` is not JSON, is JSON but not an object, or is over
    /// [`MAX_ATTRIBUTES_BYTES`], or when another value is over its limit.
    pub fn from_params(p: &Params) -> Result<Self, RequestError> {
        Ok(Self {
            service_type: required(p, "ServiceType", MAX_PARAM_CHARS)?,
            operation: required(p, "Operation", MAX_PARAM_CHARS)?,
            attributes: attributes(p)?,
            application_id: optional(p, "ApplicationId", MAX_PARAM_CHARS)?,
            client_token: optional(p, "ClientToken", MAX_CLIENT_TOKEN_CHARS)?,
            resource_group_id: optional(p, "ResourceGroupId", MAX_PARAM_CHARS)?,
        })
    }
}

/// `GetExecuteOperationResult`: the status and result of one operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GetExecuteOperationResultRequest {
    /// `OperationId`, required. Its shape is not checked here: an id that never existed gets
    /// the same answer as an expired one (product.md), and a malformed id never existed.
    pub operation_id: String,
    /// `ResourceGroupId`, used for permission checks.
    pub resource_group_id: Option<String>,
    /// `WaitSeconds` (a bpops extension), 0 to [`MAX_WAIT_SECONDS`]: answer as soon as the
    /// operation is final, or when this time is up with its current status. 0 when absent.
    pub wait_seconds: u32,
}

/// The longest `WaitSeconds` a GetExecuteOperationResult may ask for.
pub const MAX_WAIT_SECONDS: u32 = 60;

impl GetExecuteOperationResultRequest {
    /// Reads the request from its parameters.
    ///
    /// # Errors
    ///
    /// [`RequestError::Missing`] without an `OperationId`, [`RequestError::Invalid`] when a value
    /// is over [`MAX_PARAM_CHARS`].
    pub fn from_params(p: &Params) -> Result<Self, RequestError> {
        Ok(Self {
            operation_id: required(p, "OperationId", MAX_PARAM_CHARS)?,
            resource_group_id: optional(p, "ResourceGroupId", MAX_PARAM_CHARS)?,
            wait_seconds: match optional(p, "WaitSeconds", MAX_PARAM_CHARS)? {
                None => 0,
                Some(text) => text
                    .parse()
                    .ok()
                    .filter(|n| *n <= MAX_WAIT_SECONDS)
                    .ok_or_else(|| RequestError::Invalid {
                        name: "WaitSeconds",
                        reason: format!("must be a whole number from 0 to {MAX_WAIT_SECONDS}"),
                    })?,
            },
        })
    }
}

/// Success envelope: `{"RequestId", "Code": "200", "Message", "Data"?}`.
///
/// `Data` is omitted when `None`: that is how an expired or unknown operation is answered
/// (product.md, Retention). `Code` is the string `"200"`: SDKs in stricter languages read it
/// as a string (§4.1).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Envelope<T> {
    /// `RequestId`, upper-case UUID.
    pub request_id: String,
    /// `Code`, `"200"` on success.
    pub code: String,
    /// `Message`.
    pub message: String,
    /// `Data`: a string for ExecuteOperationASync, an object or list for the others. A missing
    /// `Data` reads as `None` (serde's rule for `Option` fields; `default` would demand
    /// `T: Default`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data: Option<T>,
    /// `TotalCount`: how many items a listing by page number matches (ListApplication,
    /// ListTemplate); omitted by the other actions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_count: Option<u64>,
    /// `NextToken`: the next page's number of a listing by page number; omitted on its last
    /// page and by the other actions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_token: Option<u32>,
}

impl<T> Envelope<T> {
    /// A success envelope, `Code` `"200"`.
    pub fn ok(request_id: String, message: impl Into<String>, data: Option<T>) -> Self {
        Envelope {
            request_id,
            code: "200".to_owned(),
            message: message.into(),
            data,
            total_count: None,
            next_token: None,
        }
    }
}

/// `Data` of ExecuteOperationSync and GetExecuteOperationResult.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct OperationResult {
    /// `OperationId`, `op_` followed by 22 characters.
    pub operation_id: String,
    /// `Status`: `INIT`, `RUNNING`, `SUCCESS` or `FAILURE`.
    pub status: String,
    /// `Message`: the resulting state as JSON text, or a failure reason starting with a code.
    pub message: String,
    /// `Arguments`: the operation's output as JSON text, `{}` when there is none.
    pub arguments: String,
}

/// One element of the `Data` list of ListOperations.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct OperationSummary {
    /// `Service`, the service type.
    pub service: String,
    /// `Operation`, the operation name.
    pub operation: String,
    /// `DisplayName`, for people.
    pub display_name: String,
}

/// `Data` of GetOperationParams.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct OperationParams {
    /// `Service`, the service type.
    pub service: String,
    /// `Operation`, the operation name.
    pub operation: String,
    /// `Attributes`, the schema of the operation's attributes.
    pub attributes: Value,
    /// `Properties`, what the operation reads from its target.
    pub properties: Value,
    /// `Outputs`, what the operation's `Arguments` hold.
    pub outputs: Value,
}

/// Error body: `{RequestId, HostId, Code, Message, Recommend, AccessDeniedDetail?}`, a superset
/// of what every SDK reads (§4.2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ErrorBody {
    /// `RequestId`.
    pub request_id: String,
    /// `HostId`, the endpoint the client called.
    pub host_id: String,
    /// `Code`, an [`crate::ErrorCode`] string.
    pub code: String,
    /// `Message`. For `SignatureDoesNotMatch` it must contain a `:` followed by the server's
    /// string to sign, or the classic SDK raises `IndexError` (§4.2).
    pub message: String,
    /// `Recommend`, a hint for the caller.
    pub recommend: String,
    /// `AccessDeniedDetail`, with `NoPermission` only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub access_denied_detail: Option<Value>,
}

pub(crate) fn optional(
    p: &Params,
    name: &'static str,
    max_chars: usize,
) -> Result<Option<String>, RequestError> {
    match p.get(name) {
        None | Some("") => Ok(None),
        Some(value) if value.chars().count() > max_chars => Err(RequestError::Invalid {
            name,
            reason: format!("must be at most {max_chars} characters"),
        }),
        Some(value) => Ok(Some(value.to_owned())),
    }
}

pub(crate) fn required(
    p: &Params,
    name: &'static str,
    max_chars: usize,
) -> Result<String, RequestError> {
    optional(p, name, max_chars)?.ok_or(RequestError::Missing(name))
}

fn attributes(p: &Params) -> Result<Map<String, Value>, RequestError> {
    json_object(p, "Attributes")
}

/// A parameter holding a JSON object as text (how the SDKs send maps): empty when absent,
/// empty or `null`; at most [`MAX_ATTRIBUTES_BYTES`].
pub(crate) fn json_object(
    p: &Params,
    name: &'static str,
) -> Result<Map<String, Value>, RequestError> {
    let invalid = |reason: String| RequestError::Invalid { name, reason };
    let text = match p.get(name) {
        None | Some("") => return Ok(Map::new()),
        Some(text) => text,
    };
    if text.len() > MAX_ATTRIBUTES_BYTES {
        return Err(invalid(format!(
            "must be at most {MAX_ATTRIBUTES_BYTES} bytes of JSON"
        )));
    }
    // serde_json's syntax errors give a position, never the input, so they are safe to relay.
    match serde_json::from_str(text) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(Value::Null) => Ok(Map::new()),
        Ok(other) => Err(invalid(format!(
            "must be a JSON object, not {}",
            json_kind(&other)
        ))),
        Err(error) => Err(invalid(format!("is not valid JSON: {error}"))),
    }
}

fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    use crate::params::form as params;

    fn execute(pairs: &[(&str, &str)]) -> Result<ExecuteOperationRequest, RequestError> {
        let mut all = vec![("ServiceType", "ecs"), ("Operation", "rename")];
        all.extend_from_slice(pairs);
        ExecuteOperationRequest::from_params(&params(&all))
    }

    fn invalid_attributes(result: Result<ExecuteOperationRequest, RequestError>) -> String {
        match result {
            Err(RequestError::Invalid {
                name: "Attributes",
                reason,
            }) => reason,
            other => panic!("expected Invalid(Attributes), got {other:?}"),
        }
    }

    #[test]
    fn reads_every_execute_parameter() {
        let request = execute(&[
            (
                "Attributes",
                r#"{"instanceId":"i-1","tags":{"a":"b"},"count":2}"#,
            ),
            ("ApplicationId", "APP-WEB"),
            ("ClientToken", "tok-1"),
            ("ResourceGroupId", "rg-prod"),
        ])
        .unwrap();
        assert_eq!(
            request,
            ExecuteOperationRequest {
                service_type: "ecs".to_owned(),
                operation: "rename".to_owned(),
                attributes: json!({"instanceId": "i-1", "tags": {"a": "b"}, "count": 2})
                    .as_object()
                    .unwrap()
                    .clone(),
                application_id: Some("APP-WEB".to_owned()),
                client_token: Some("tok-1".to_owned()),
                resource_group_id: Some("rg-prod".to_owned()),
            }
        );
    }

    #[test]
    fn a_missing_or_empty_required_parameter_is_missing() {
        assert_eq!(
            ExecuteOperationRequest::from_params(&params(&[("Operation", "rename")])),
            Err(RequestError::Missing("ServiceType"))
        );
        assert_eq!(
            ExecuteOperationRequest::from_params(&params(&[
                ("ServiceType", "ecs"),
                ("Operation", "")
            ])),
            Err(RequestError::Missing("Operation"))
        );
        assert_eq!(
            ListOperationsRequest::from_params(&params(&[])),
            Err(RequestError::Missing("ServiceType"))
        );
        assert_eq!(
            GetOperationParamsRequest::from_params(&params(&[("ServiceType", "ecs")])),
            Err(RequestError::Missing("Operation"))
        );
        assert_eq!(
            GetExecuteOperationResultRequest::from_params(&params(&[("OperationId", "")])),
            Err(RequestError::Missing("OperationId"))
        );
    }

    #[test]
    fn empty_optional_parameters_are_absent() {
        let request = execute(&[
            ("ApplicationId", ""),
            ("ClientToken", ""),
            ("ResourceGroupId", ""),
        ])
        .unwrap();
        assert_eq!(request.application_id, None);
        assert_eq!(request.client_token, None);
        assert_eq!(request.resource_group_id, None);

        let request = GetExecuteOperationResultRequest::from_params(&params(&[
            ("OperationId", "op_1"),
            ("ResourceGroupId", ""),
        ]))
        .unwrap();
        assert_eq!(request.operation_id, "op_1");
        assert_eq!(request.resource_group_id, None);
    }

    #[test]
    fn absent_empty_and_null_attributes_are_an_empty_map() {
        for pairs in [
            &[][..],
            &[("Attributes", "")][..],
            &[("Attributes", "null")][..],
            &[("Attributes", " null ")][..],
            &[("Attributes", "{}")][..],
        ] {
            assert!(execute(pairs).unwrap().attributes.is_empty(), "{pairs:?}");
        }
    }

    #[test]
    fn attributes_with_escapes_and_spaces_parse_like_compact_json() {
        // The classic SDK's `json.dumps` style (vector classic-execute-operation-sync-ascii-json).
        let spaced = execute(&[("Attributes", r#"{"name": "\u6d4b\u8bd5", "n": 2}"#)]).unwrap();
        let compact = execute(&[("Attributes", r#"{"name":"测试","n":2}"#)]).unwrap();
        assert_eq!(spaced.attributes, compact.attributes);
    }

    #[test]
    fn bad_json_attributes_are_invalid() {
        let reason = invalid_attributes(execute(&[("Attributes", r#"{"a":"secret-value""#)]));
        assert!(reason.contains("not valid JSON"), "{reason}");
        assert!(!reason.contains("secret-value"), "{reason}");
        invalid_attributes(execute(&[("Attributes", "{'a': 1}")]));
        invalid_attributes(execute(&[("Attributes", " ")]));
    }

    #[test]
    fn non_object_attributes_are_invalid() {
        for (text, kind) in [
            ("[1,2]", "an array"),
            (r#""{\"a\":1}""#, "a string"),
            ("1", "a number"),
            ("true", "a boolean"),
        ] {
            let reason = invalid_attributes(execute(&[("Attributes", text)]));
            assert!(reason.contains(kind), "{text}: {reason}");
        }
    }

    #[test]
    fn values_over_the_limits_are_invalid() {
        let long_name = "x".repeat(MAX_PARAM_CHARS + 1);
        let long_token = "t".repeat(MAX_CLIENT_TOKEN_CHARS + 1);
        let big_json = format!(r#"{{"a":"{}"}}"#, "x".repeat(MAX_ATTRIBUTES_BYTES));
        for (name, value) in [
            ("ApplicationId", long_name.as_str()),
            ("ResourceGroupId", long_name.as_str()),
            ("ClientToken", long_token.as_str()),
            ("Attributes", big_json.as_str()),
        ] {
            let result = execute(&[(name, value)]);
            assert!(
                matches!(&result, Err(RequestError::Invalid { name: n, .. }) if *n == name),
                "{name}: {result:?}"
            );
        }
        assert!(matches!(
            ListOperationsRequest::from_params(&params(&[("ServiceType", &long_name)])),
            Err(RequestError::Invalid {
                name: "ServiceType",
                ..
            })
        ));
        // Limits count characters, not bytes.
        let wide = "测".repeat(MAX_CLIENT_TOKEN_CHARS);
        assert!(execute(&[("ClientToken", &wide)]).is_ok());
    }

    #[test]
    fn envelope_omits_data_when_none_and_code_is_the_string_200() {
        let envelope: Envelope<OperationResult> = Envelope::ok(
            "REQ-1".to_owned(),
            "The operation does not exist or has expired.",
            None,
        );
        assert_eq!(
            serde_json::to_value(&envelope).unwrap(),
            json!({
                "RequestId": "REQ-1",
                "Code": "200",
                "Message": "The operation does not exist or has expired.",
            })
        );
        let back: Envelope<OperationResult> =
            serde_json::from_str(r#"{"RequestId":"REQ-1","Code":"200","Message":"m"}"#).unwrap();
        assert_eq!(back.data, None);
    }

    #[test]
    fn envelope_serializes_data_with_pascal_case_names() {
        let result = OperationResult {
            operation_id: "op_1".to_owned(),
            status: "SUCCESS".to_owned(),
            message: "{}".to_owned(),
            arguments: "{}".to_owned(),
        };
        let envelope = Envelope::ok("REQ-2".to_owned(), "", Some(result.clone()));
        let value = serde_json::to_value(&envelope).unwrap();
        assert_eq!(
            value,
            json!({
                "RequestId": "REQ-2",
                "Code": "200",
                "Message": "",
                "Data": {"OperationId": "op_1", "Status": "SUCCESS", "Message": "{}", "Arguments": "{}"},
            })
        );
        let back: Envelope<OperationResult> = serde_json::from_value(value).unwrap();
        assert_eq!(back.data, Some(result));

        let summary = OperationSummary {
            service: "ecs".to_owned(),
            operation: "rename".to_owned(),
            display_name: "Rename".to_owned(),
        };
        assert_eq!(
            serde_json::to_value(Envelope::ok("R".to_owned(), "", Some(vec![summary]))).unwrap()["Data"],
            json!([{"Service": "ecs", "Operation": "rename", "DisplayName": "Rename"}])
        );
        assert_eq!(
            serde_json::to_value(Envelope::ok("R".to_owned(), "", Some("op_1".to_owned())))
                .unwrap()["Data"],
            json!("op_1")
        );
    }

    #[test]
    fn operation_params_use_pascal_case_names() {
        let params = OperationParams {
            service: "ecs".to_owned(),
            operation: "rename".to_owned(),
            attributes: json!({"instance_name": {"type": "string"}}),
            properties: json!({}),
            outputs: json!({}),
        };
        assert_eq!(
            serde_json::to_value(params).unwrap(),
            json!({
                "Service": "ecs",
                "Operation": "rename",
                "Attributes": {"instance_name": {"type": "string"}},
                "Properties": {},
                "Outputs": {},
            })
        );
    }

    #[test]
    fn error_body_omits_access_denied_detail_when_none() {
        let body = ErrorBody {
            request_id: "REQ-3".to_owned(),
            host_id: "127.0.0.1:8080".to_owned(),
            code: "SignatureDoesNotMatch".to_owned(),
            message: "Specified signature does not match our calculation. server string to \
                      sign is:POST&%2F&A%3D1"
                .to_owned(),
            recommend: "Check your AccessKeySecret.".to_owned(),
            access_denied_detail: None,
        };
        let value = serde_json::to_value(&body).unwrap();
        // Sorted: serde_json keeps insertion order if another crate enables `preserve_order`.
        let mut keys: Vec<&str> = value
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        keys.sort_unstable();
        assert_eq!(
            keys,
            ["Code", "HostId", "Message", "Recommend", "RequestId"]
        );
        let denied = ErrorBody {
            code: "NoPermission".to_owned(),
            access_denied_detail: Some(json!({"NoPermissionType": "ImplicitDeny"})),
            ..body
        };
        assert_eq!(
            serde_json::to_value(&denied).unwrap()["AccessDeniedDetail"],
            json!({"NoPermissionType": "ImplicitDeny"})
        );
    }
}
