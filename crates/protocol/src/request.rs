//! Building signed requests, for the CLI and the tests: the same signing code the server
//! verifies with, so client and server cannot drift apart.

use bpops_time::Timestamp;

use crate::params::percent_encode;
use crate::signature::{format_timestamp, sign_acs3};

/// An ACS3 request as a client means it, before signing: `POST /` with `params` in a form
/// body (and `query`, if any, in the request-target), the action and version in signed
/// headers.
#[derive(Clone, Debug)]
pub struct Acs3Request<'a> {
    /// The `host` header, exactly as the client will send it (`127.0.0.1:8080`).
    pub host: &'a str,
    /// The action, e.g. `GetExecuteOperationResult`.
    pub action: &'a str,
    /// The API version; [`crate::API_VERSION`] unless testing a refusal.
    pub version: &'a str,
    /// When the request is dated (`x-acs-date`, to the second).
    pub date: Timestamp,
    /// A fresh signature nonce.
    pub nonce: &'a str,
    /// The business parameters.
    pub params: &'a [(&'a str, &'a str)],
    /// Parameters already encoded for the request-target, as the SDKs send the few that go
    /// in the query (wire-protocol.md §1.1); usually empty.
    pub query: &'a str,
}

/// A request ready for the wire.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedRequest {
    /// `POST`.
    pub method: String,
    /// The request-target, `/`.
    pub target: String,
    /// Every header, `Authorization` last.
    pub headers: Vec<(String, String)>,
    /// The form-encoded body.
    pub body: Vec<u8>,
}

impl Acs3Request<'_> {
    /// Signs the request with an AccessKey pair.
    pub fn sign(&self, access_key_id: &str, secret: &str) -> SignedRequest {
        let body = form_encode(self.params).into_bytes();
        let mut headers = vec![
            ("host".to_owned(), self.host.to_owned()),
            ("x-acs-version".to_owned(), self.version.to_owned()),
            ("x-acs-action".to_owned(), self.action.to_owned()),
            ("x-acs-date".to_owned(), format_timestamp(self.date)),
            ("x-acs-signature-nonce".to_owned(), self.nonce.to_owned()),
            ("accept".to_owned(), "application/json".to_owned()),
        ];
        // As tea sends it: no content-type without a body.
        if !body.is_empty() {
            headers.push((
                "content-type".to_owned(),
                "application/x-www-form-urlencoded".to_owned(),
            ));
        }
        let target = if self.query.is_empty() {
            "/".to_owned()
        } else {
            format!("/?{}", self.query)
        };
        sign_acs3("POST", &target, &mut headers, &body, access_key_id, secret);
        SignedRequest {
            method: "POST".to_owned(),
            target,
            headers,
            body,
        }
    }
}

/// `application/x-www-form-urlencoded` text of `params`, every reserved byte percent-encoded.
pub fn form_encode(params: &[(&str, &str)]) -> String {
    params
        .iter()
        .map(|(key, value)| format!("{}={}", percent_encode(key), percent_encode(value)))
        .collect::<Vec<_>>()
        .join("&")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::params::Params;
    use crate::signature::{RawRequest, inspect, verify};

    #[test]
    fn a_built_request_verifies_and_carries_its_parameters() {
        let request = Acs3Request {
            host: "127.0.0.1:8080",
            action: "ExecuteOperationASync",
            version: crate::API_VERSION,
            date: Timestamp::from_secs(1_700_000_000),
            nonce: "0123456789abcdef0123456789abcdef",
            params: &[
                ("ServiceType", "ecs"),
                ("Attributes", r#"{"name":"a b&c=é"}"#),
            ],
            query: "",
        }
        .sign("LTAIkey", "secret");
        let content_type = request
            .headers
            .iter()
            .find(|(n, _)| n == "content-type")
            .map(|(_, v)| v.as_str());
        let params = Params::parse("", content_type, &request.body).unwrap();
        assert_eq!(params.get("Attributes"), Some(r#"{"name":"a b&c=é"}"#));
        let raw = RawRequest {
            method: &request.method,
            target: &request.target,
            headers: &request.headers,
            body: &request.body,
        };
        let claim = inspect(&raw, &params).unwrap();
        assert_eq!(claim.action.as_deref(), Some("ExecuteOperationASync"));
        assert_eq!(claim.timestamp, "2023-11-14T22:13:20Z");
        verify(&raw, &params, &claim, "secret").unwrap();
        assert!(verify(&raw, &params, &claim, "other").is_err());
    }
}
