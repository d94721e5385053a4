//! Request signatures: ACS3-HMAC-SHA256 (wire-protocol.md §2) and RPC v1 HMAC-SHA1 (§3), as
//! named steps (canonical request → string to sign → signature) plus the two calls the API
//! makes.
//!
//! Verification is split in two so the caller can look the secret up in between: [`inspect`]
//! reads who claims to have signed the request and enforces the policy of §2.11, then
//! [`verify`] recomputes the signature with the secret and compares in constant time. The
//! ±15 minute clock check and nonce replay need a clock and state, so they live in the API; this
//! module only offers [`parse_timestamp`] for them.
//!
//! Only ACS3-HMAC-SHA256 is accepted among the ACS3 algorithms: `ACS3-HMAC-SM3` would need an SM3
//! implementation and `ACS3-RSA-SHA256` a key-pair store, and no BPStudio user is expected to
//! configure either (§1.2, §7).

mod acs3;
mod rpc;
mod timestamp;

use crate::params::Params;

pub use acs3::{acs3_canonical_request, acs3_signature, acs3_string_to_sign, sign_acs3};
pub use rpc::{rpc_signature, rpc_string_to_sign};
pub use timestamp::{format_timestamp, parse_timestamp};

/// A request exactly as it arrived, for signature checks.
#[derive(Debug, Clone, Copy)]
pub struct RawRequest<'a> {
    /// The HTTP method, e.g. `POST`.
    pub method: &'a str,
    /// The request-target, e.g. `/?a=b`, still percent-encoded.
    pub target: &'a str,
    /// Header lines in arrival order, names in their original case.
    pub headers: &'a [(String, String)],
    /// The body bytes exactly as received.
    pub body: &'a [u8],
}

/// The signature scheme a request uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scheme {
    /// `Authorization: ACS3-HMAC-SHA256 …`, the tea SDK default (§2).
    Acs3,
    /// A `Signature` parameter, HMAC-SHA1: tea with `signature_algorithm='v2'` and the classic
    /// SDK (§3).
    Rpc,
}

/// What a request says about who signed it, read before the secret is known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    /// The scheme the request is signed with.
    pub scheme: Scheme,
    /// The AccessKeyId whose secret signed the request: `Credential=` for ACS3, the
    /// `AccessKeyId` parameter for RPC.
    pub access_key_id: String,
    /// `x-acs-date` (ACS3) or `Timestamp` (RPC), raw; see [`parse_timestamp`].
    pub timestamp: String,
    /// `x-acs-signature-nonce` (ACS3) or `SignatureNonce` (RPC).
    pub nonce: String,
    /// The action from the signed location: the `x-acs-action` header for ACS3 (which must then
    /// be a signed header), the `Action` parameter for RPC. The RPC SDKs also send an
    /// `x-acs-action` header, unsigned, which is ignored (§6 item 8).
    pub action: Option<String>,
    /// The version from the signed location: `x-acs-version` for ACS3, `Version` for RPC.
    pub version: Option<String>,
}

/// Why a request's signature was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// The request carries no signature: no ACS3 `Authorization` header and no `Signature`
    /// parameter.
    #[error("the request is not signed: no ACS3 Authorization header and no Signature parameter")]
    Missing,
    /// The request is signed, but something needed to check the signature is missing,
    /// malformed, unsupported or not covered by the signature; the text says what.
    #[error("incomplete signature: {0}")]
    Incomplete(String),
    /// The recomputed signature differs from the one sent, or (ACS3) the body does not match
    /// its `x-acs-content-sha256`.
    #[error("the signature does not match")]
    Mismatch {
        /// The server's string to sign; the API puts it after a `:` in its message, which the
        /// classic SDK compares with its own (§4.2).
        string_to_sign: String,
    },
}

impl SignatureError {
    fn incomplete(reason: impl Into<String>) -> Self {
        SignatureError::Incomplete(reason.into())
    }
}

/// Reads who claims to have signed `req`, and checks that everything needed to verify it is
/// present and covered by the signature.
///
/// The scheme is ACS3 when an `Authorization` header starting with `ACS3-` is present, RPC when
/// `params` has a `Signature`.
///
/// # Errors
///
/// [`SignatureError::Missing`] when neither is present. [`SignatureError::Incomplete`] when:
/// the `Authorization` header is malformed, repeated, or lacks `Credential`, `SignedHeaders` or
/// `Signature`; its algorithm is not `ACS3-HMAC-SHA256`; `x-acs-date` or
/// `x-acs-signature-nonce` is missing; `host`, `content-type` (when present) or a received
/// `x-acs-action`, `x-acs-version`, `x-acs-date`, `x-acs-signature-nonce`,
/// `x-acs-content-sha256` or `x-acs-security-token` is not in `SignedHeaders` (§2.11); a signed
/// header is absent; or, for RPC, `Timestamp`, `SignatureNonce` or `AccessKeyId` is missing or
/// `SignatureMethod`/`SignatureVersion` is not `HMAC-SHA1`/`1.0`.
pub fn inspect(req: &RawRequest, params: &Params) -> Result<Claim, SignatureError> {
    if let Some(authorization) = acs3::authorization_header(req)? {
        return acs3::read(req, authorization).map(|(claim, _)| claim);
    }
    if params.get(rpc::SIGNATURE_PARAM).is_some() {
        return rpc::read(params);
    }
    Err(SignatureError::Missing)
}

/// Recomputes the signature of `req` with `secret` and compares it in constant time.
///
/// `claim` must be what [`inspect`] returned for this same request and `params`; `verify`
/// re-reads the signature fields from `req` rather than trusting it, and refuses a claim that
/// does not match them.
///
/// For ACS3 the payload hash is taken over the raw body, and a `x-acs-content-sha256` header
/// that differs from it is refused. For RPC the signed set is `params` minus `Signature`:
/// exactly the union of query and form body.
///
/// # Errors
///
/// [`SignatureError::Mismatch`] carrying the server's string to sign when the signature (or the
/// ACS3 body hash) does not match; [`SignatureError::Incomplete`] for anything [`inspect`]
/// refuses, for a repeated ACS3 query key, and for a `claim` read from another request.
pub fn verify(
    req: &RawRequest,
    params: &Params,
    claim: &Claim,
    secret: &str,
) -> Result<(), SignatureError> {
    match claim.scheme {
        Scheme::Acs3 => acs3::verify(req, claim, secret),
        Scheme::Rpc => rpc::verify(req.method, params, claim, secret),
    }
}

/// Refuses a claim that is not what the request says, so `verify` never checks one request's
/// signature against another request's key id.
fn ensure_claim_matches(derived: &Claim, claim: &Claim) -> Result<(), SignatureError> {
    if derived == claim {
        Ok(())
    } else {
        Err(SignatureError::incomplete(
            "the claim passed to verify was not read from this request",
        ))
    }
}

/// Values of every header named `name` (case-insensitive), trimmed, in arrival order.
fn header_values<'r>(
    headers: &'r [(String, String)],
    name: &'r str,
) -> impl Iterator<Item = &'r str> + 'r {
    headers
        .iter()
        .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, value)| value.trim())
}

/// The value of a header that must not be repeated, trimmed as the canonical request has it.
fn single_header<'r>(
    headers: &'r [(String, String)],
    name: &'r str,
) -> Result<Option<&'r str>, SignatureError> {
    let mut values = header_values(headers, name);
    let first = values.next();
    if values.next().is_some() {
        return Err(SignatureError::incomplete(format!(
            "header {name} is repeated"
        )));
    }
    Ok(first)
}

/// A required, non-empty value, or `Incomplete` naming it.
fn required(value: Option<&str>, name: &str) -> Result<String, SignatureError> {
    match value {
        Some(value) if !value.is_empty() => Ok(value.to_owned()),
        _ => Err(SignatureError::incomplete(format!("{name} is missing"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "test-secret+/=";
    const KEY_ID: &str = "LTAITESTKEY0001";
    const FORM: &str = "application/x-www-form-urlencoded";

    fn headers(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn base_headers(action: &str, content_type: Option<&str>) -> Vec<(String, String)> {
        let mut list = headers(&[
            ("host", "127.0.0.1:18080"),
            ("x-acs-action", action),
            ("x-acs-version", crate::API_VERSION),
            ("x-acs-date", "2024-05-06T07:08:09Z"),
            ("x-acs-signature-nonce", "0123456789abcdef0123456789abcdef"),
            ("accept", "application/json"),
        ]);
        if let Some(content_type) = content_type {
            list.push(("content-type".to_owned(), content_type.to_owned()));
        }
        list
    }

    fn params_of(req: &RawRequest) -> Params {
        let query = req.target.split_once('?').map_or("", |(_, q)| q);
        let content_type = header_values(req.headers, "content-type").next();
        Params::parse(query, content_type, req.body).unwrap()
    }

    fn check(req: &RawRequest, secret: &str) -> Result<Claim, SignatureError> {
        let params = params_of(req);
        let claim = inspect(req, &params)?;
        verify(req, &params, &claim, secret)?;
        Ok(claim)
    }

    /// Signs an ACS3 request the way the CLI does and returns its headers.
    fn signed(target: &str, action: &str, body: &[u8]) -> Vec<(String, String)> {
        let content_type = (!body.is_empty()).then_some(FORM);
        let mut list = base_headers(action, content_type);
        sign_acs3("POST", target, &mut list, body, KEY_ID, SECRET);
        list
    }

    fn request<'a>(
        target: &'a str,
        headers: &'a [(String, String)],
        body: &'a [u8],
    ) -> RawRequest<'a> {
        RawRequest {
            method: "POST",
            target,
            headers,
            body,
        }
    }

    fn incomplete_reason(result: Result<Claim, SignatureError>) -> String {
        match result {
            Err(SignatureError::Incomplete(reason)) => reason,
            other => panic!("expected Incomplete, got {other:?}"),
        }
    }

    fn replace_header(list: &mut [(String, String)], name: &str, value: &str) {
        let slot = list
            .iter_mut()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .unwrap();
        slot.1 = value.to_owned();
    }

    #[test]
    fn sign_acs3_round_trips_through_inspect_and_verify() {
        let attributes = r#"{"instance_name":"测试实例 web-01 *~/+=","tags":["x y"]}"#;
        let body = format!(
            "Attributes={}&Operation=rename&ServiceType=ecs",
            crate::percent_encode(attributes)
        );
        let target = "/?Note=a+b%20c&ApplicationId=APP%2F1";
        let list = signed(target, "ExecuteOperationASync", body.as_bytes());
        let req = request(target, &list, body.as_bytes());

        let claim = check(&req, SECRET).unwrap();
        assert_eq!(
            claim,
            Claim {
                scheme: Scheme::Acs3,
                access_key_id: KEY_ID.to_owned(),
                timestamp: "2024-05-06T07:08:09Z".to_owned(),
                nonce: "0123456789abcdef0123456789abcdef".to_owned(),
                action: Some("ExecuteOperationASync".to_owned()),
                version: Some(crate::API_VERSION.to_owned()),
            }
        );
        let params = params_of(&req);
        assert_eq!(params.get("Note"), Some("a b c"));
        assert_eq!(params.get("Attributes"), Some(attributes));
    }

    #[test]
    fn sign_acs3_signs_every_header_and_the_body_hash() {
        let list = signed("/", "ListServices", b"");
        let authorization = single_header(&list, "authorization").unwrap().unwrap();
        assert!(
            authorization.contains(
                ",SignedHeaders=accept;host;x-acs-action;x-acs-content-sha256;x-acs-date;\
                 x-acs-signature-nonce;x-acs-version,"
            ),
            "{authorization}"
        );
        assert_eq!(
            single_header(&list, "x-acs-content-sha256").unwrap(),
            Some("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        );
    }

    #[test]
    fn signing_twice_replaces_the_previous_signature() {
        let mut list = signed("/", "ListServices", b"");
        sign_acs3("POST", "/", &mut list, b"", KEY_ID, SECRET);
        assert_eq!(header_values(&list, "authorization").count(), 1);
        assert_eq!(header_values(&list, "x-acs-content-sha256").count(), 1);
        check(&request("/", &list, b""), SECRET).unwrap();
    }

    #[test]
    fn wrong_secret_is_a_mismatch_carrying_the_string_to_sign() {
        let body = b"OperationId=op_1";
        let list = signed("/", "GetExecuteOperationResult", body);
        let req = request("/", &list, body);
        let signed_names: Vec<String> = list
            .iter()
            .filter(|(n, _)| n != "Authorization")
            .map(|(n, _)| n.clone())
            .collect();
        let expected = acs3_string_to_sign(&acs3_canonical_request(&req, &signed_names).unwrap());

        assert_eq!(
            check(&req, "another-secret"),
            Err(SignatureError::Mismatch {
                string_to_sign: expected
            })
        );
    }

    #[test]
    fn acs3_refuses_a_body_that_differs_from_its_hash() {
        let list = signed("/", "GetExecuteOperationResult", b"OperationId=op_1");
        let result = check(&request("/", &list, b"OperationId=op_2"), SECRET);
        assert!(
            matches!(result, Err(SignatureError::Mismatch { .. })),
            "{result:?}"
        );
    }

    #[test]
    fn acs3_refuses_a_changed_query() {
        let list = signed("/?ServiceType=ecs", "ListOperations", b"");
        let result = check(&request("/?ServiceType=slb", &list, b""), SECRET);
        assert!(
            matches!(result, Err(SignatureError::Mismatch { .. })),
            "{result:?}"
        );
    }

    #[test]
    fn acs3_accepts_an_equivalently_reencoded_query() {
        // The canonical query is built from decoded values (§2 step 5).
        let list = signed("/?ServiceType=a+b", "ListOperations", b"");
        check(&request("/?ServiceType=a%20b", &list, b""), SECRET).unwrap();
    }

    #[test]
    fn acs3_canonical_request_refuses_a_repeated_query_key() {
        let list = signed("/", "ListOperations", b"");
        let req = request("/?A=1&A=2", &list, b"");
        let result = acs3_canonical_request(&req, &["host".to_owned()]);
        assert!(
            matches!(&result, Err(SignatureError::Incomplete(r)) if r.contains("more than once")),
            "{result:?}"
        );
    }

    #[test]
    fn acs3_canonical_request_refuses_a_missing_signed_header() {
        let list = signed("/", "ListServices", b"");
        let req = request("/", &list, b"");
        let result = acs3_canonical_request(&req, &["x-acs-missing".to_owned()]);
        assert!(
            matches!(&result, Err(SignatureError::Incomplete(r)) if r.contains("x-acs-missing")),
            "{result:?}"
        );
    }

    #[test]
    fn an_unsigned_request_is_missing() {
        let list = base_headers("ListServices", None);
        let req = request("/?Action=ListServices", &list, b"");
        assert_eq!(check(&req, SECRET), Err(SignatureError::Missing));
    }

    #[test]
    fn acs3_refuses_other_algorithms_as_unsupported() {
        for algorithm in ["ACS3-HMAC-SM3", "ACS3-RSA-SHA256"] {
            let mut list = signed("/", "ListServices", b"");
            let authorization = single_header(&list, "authorization").unwrap().unwrap();
            let changed = authorization.replacen("ACS3-HMAC-SHA256", algorithm, 1);
            replace_header(&mut list, "authorization", &changed);
            let reason = incomplete_reason(check(&request("/", &list, b""), SECRET));
            assert!(reason.contains("unsupported"), "{reason}");
            assert!(reason.contains(algorithm), "{reason}");
        }
    }

    #[test]
    fn acs3_refuses_a_malformed_authorization() {
        for authorization in [
            "ACS3-HMAC-SHA256",
            "ACS3-HMAC-SHA256 Credential=K,SignedHeaders=host",
            "ACS3-HMAC-SHA256 Credential=K,SignedHeaders=host,Signature",
            "ACS3-HMAC-SHA256 Credential=,SignedHeaders=host,Signature=00",
            "ACS3-HMAC-SHA256 Credential=K,Credential=K,SignedHeaders=host,Signature=00",
        ] {
            let mut list = signed("/", "ListServices", b"");
            replace_header(&mut list, "authorization", authorization);
            let result = check(&request("/", &list, b""), SECRET);
            assert!(
                matches!(result, Err(SignatureError::Incomplete(_))),
                "{authorization}: {result:?}"
            );
        }
    }

    #[test]
    fn acs3_requires_the_date_and_nonce_headers() {
        for name in ["x-acs-date", "x-acs-signature-nonce"] {
            let mut list = base_headers("ListServices", None);
            list.retain(|(n, _)| n != name);
            sign_acs3("POST", "/", &mut list, b"", KEY_ID, SECRET);
            let reason = incomplete_reason(check(&request("/", &list, b""), SECRET));
            assert!(reason.contains(name), "{reason}");
        }
    }

    #[test]
    fn acs3_requires_policy_headers_to_be_signed() {
        for name in ["host", "x-acs-action", "x-acs-date", "content-type"] {
            let mut list = base_headers("ListServices", Some(FORM));
            let (_, value) = list.remove(list.iter().position(|(n, _)| n == name).unwrap());
            sign_acs3("POST", "/", &mut list, b"", KEY_ID, SECRET);
            // Added after signing, so it is received but not in SignedHeaders.
            list.push((name.to_owned(), value));
            let reason = incomplete_reason(check(&request("/", &list, b""), SECRET));
            assert!(reason.contains(name), "{name}: {reason}");
        }
    }

    #[test]
    fn acs3_ignores_unsigned_headers_outside_the_policy() {
        let mut list = signed("/", "ListServices", b"");
        list.push(("X-Forwarded-For".to_owned(), "10.0.0.1".to_owned()));
        list.push(("x-acs-trace".to_owned(), "anything".to_owned()));
        check(&request("/", &list, b""), SECRET).unwrap();
    }

    #[test]
    fn acs3_refuses_a_repeated_authorization_header() {
        let mut list = signed("/", "ListServices", b"");
        let authorization = list.last().unwrap().clone();
        list.push(authorization);
        incomplete_reason(check(&request("/", &list, b""), SECRET));
    }

    #[test]
    fn verify_refuses_a_claim_from_another_request() {
        let list = signed("/", "ListServices", b"");
        let req = request("/", &list, b"");
        let params = params_of(&req);
        let mut claim = inspect(&req, &params).unwrap();
        claim.access_key_id = "LTAIOTHERKEY".to_owned();
        assert!(matches!(
            verify(&req, &params, &claim, SECRET),
            Err(SignatureError::Incomplete(_))
        ));
    }

    /// Builds an RPC query the way tea v2 does, signed over the query and `body`; each override
    /// replaces (`Some`) or drops (`None`) a common parameter before signing.
    fn rpc_query(overrides: &[(&str, Option<&str>)], body: &str, secret: &str) -> String {
        let common = [
            ("Action", "GetExecuteOperationResult"),
            ("Format", "json"),
            ("Version", crate::API_VERSION),
            ("Timestamp", "2024-05-06T07:08:09Z"),
            ("SignatureNonce", "0123456789abcdef0123456789abcdef"),
            ("SignatureMethod", "HMAC-SHA1"),
            ("SignatureVersion", "1.0"),
            ("AccessKeyId", KEY_ID),
        ];
        let query: Vec<String> = common
            .iter()
            .filter_map(|&(key, value)| {
                let value = match overrides.iter().find(|(name, _)| *name == key) {
                    Some(&(_, replacement)) => replacement?,
                    None => value,
                };
                Some(format!("{key}={}", crate::percent_encode(value)))
            })
            .collect();
        let query = query.join("&");
        let params = Params::parse(&query, Some(FORM), body.as_bytes()).unwrap();
        let signature = rpc_signature(secret, &rpc_string_to_sign("POST", &params));
        format!("{query}&Signature={}", crate::percent_encode(&signature))
    }

    #[test]
    fn rpc_round_trip_signs_query_and_body() {
        let body = "OperationId=op_1&Note=a+b";
        let target = format!("/?{}", rpc_query(&[], body, SECRET));
        let list = headers(&[("content-type", FORM), ("x-acs-action", "Other")]);
        let claim = check(&request(&target, &list, body.as_bytes()), SECRET).unwrap();
        assert_eq!(claim.scheme, Scheme::Rpc);
        assert_eq!(claim.access_key_id, KEY_ID);
        assert_eq!(claim.action.as_deref(), Some("GetExecuteOperationResult"));
        assert_eq!(claim.timestamp, "2024-05-06T07:08:09Z");

        let tampered = "OperationId=op_2&Note=a+b";
        let result = check(&request(&target, &list, tampered.as_bytes()), SECRET);
        assert!(
            matches!(result, Err(SignatureError::Mismatch { .. })),
            "{result:?}"
        );
    }

    #[test]
    fn rpc_wrong_secret_is_a_mismatch_carrying_the_string_to_sign() {
        let target = format!("/?{}", rpc_query(&[], "", SECRET));
        let req = request(&target, &[], b"");
        let expected = rpc_string_to_sign("POST", &params_of(&req));
        assert!(!expected.contains(':'), "the classic SDK splits on ':'");
        assert_eq!(
            check(&req, "another-secret"),
            Err(SignatureError::Mismatch {
                string_to_sign: expected
            })
        );
    }

    #[test]
    fn rpc_refuses_other_methods_and_versions() {
        for (name, value) in [
            ("SignatureMethod", Some("HMAC-SHA256")),
            ("SignatureMethod", None),
            ("SignatureVersion", Some("2.0")),
            ("SignatureVersion", None),
        ] {
            let target = format!("/?{}", rpc_query(&[(name, value)], "", SECRET));
            let reason = incomplete_reason(check(&request(&target, &[], b""), SECRET));
            assert!(reason.contains(name), "{reason}");
        }
    }

    #[test]
    fn rpc_requires_key_timestamp_and_nonce() {
        for name in ["AccessKeyId", "Timestamp", "SignatureNonce"] {
            for value in [None, Some("")] {
                let target = format!("/?{}", rpc_query(&[(name, value)], "", SECRET));
                let reason = incomplete_reason(check(&request(&target, &[], b""), SECRET));
                assert!(reason.contains(name), "{reason}");
            }
        }
    }

    #[test]
    fn rpc_refuses_a_signature_that_is_not_base64() {
        let target = "/?Action=ListServices&Timestamp=2024-05-06T07%3A08%3A09Z&\
                      SignatureNonce=n&SignatureMethod=HMAC-SHA1&SignatureVersion=1.0&\
                      AccessKeyId=K&Signature=%21%21";
        let result = check(&request(target, &[], b""), SECRET);
        assert!(
            matches!(result, Err(SignatureError::Mismatch { .. })),
            "{result:?}"
        );
    }
}
