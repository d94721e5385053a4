//! Replays every case of `signature-vectors.json` beside this file (raw requests captured from
//! the official SDKs, plus documented mutations; a copy of the spec's vectors, kept in the
//! repository so a clone tests on its own) through `inspect` and `verify`, and checks the
//! recorded canonical request, string to sign and signature along the way.
//!
//! Key lookup is the API's job, so a case whose `access_key_id` differs from the key the request
//! names counts as refused ("unknown key"). The clock and nonce checks also live in the API and
//! are not replayed: the vectors use a fixed 2024 timestamp and reuse nonces.

use bpops_protocol::signature::{
    self, Claim, RawRequest, Scheme, SignatureError, acs3_canonical_request, acs3_signature,
    acs3_string_to_sign, rpc_signature, rpc_string_to_sign,
};
use bpops_protocol::{API_VERSION, Params};
use serde::Deserialize;

#[derive(Deserialize)]
struct Vectors {
    cases: Vec<Case>,
}

#[derive(Deserialize)]
struct Case {
    id: String,
    mode: String,
    #[serde(default)]
    optional: bool,
    action: String,
    access_key_id: String,
    access_key_secret: String,
    request: Request,
    expected: Expected,
    should_verify: bool,
}

#[derive(Deserialize)]
struct Request {
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    body: String,
}

#[derive(Deserialize)]
struct Expected {
    signature: String,
    canonical_request: Option<String>,
    string_to_sign: String,
    server_computed_signature: Option<String>,
}

impl Case {
    fn raw(&self) -> RawRequest<'_> {
        RawRequest {
            method: &self.request.method,
            target: &self.request.path,
            headers: &self.request.headers,
            body: self.request.body.as_bytes(),
        }
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.request
            .headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    fn params(&self) -> Result<Params, String> {
        let query = self.request.path.split_once('?').map_or("", |(_, q)| q);
        Params::parse(
            query,
            self.header("content-type"),
            self.request.body.as_bytes(),
        )
        .map_err(|error| format!("params refused: {error}"))
    }

    /// What a correct server computes: the recorded server signature for derived cases,
    /// otherwise the one the client sent.
    fn server_signature(&self) -> &str {
        self.expected
            .server_computed_signature
            .as_deref()
            .unwrap_or(&self.expected.signature)
    }
}

fn load() -> Vec<Case> {
    let vectors: Vectors = serde_json::from_str(include_str!("signature-vectors.json"))
        .unwrap_or_else(|error| panic!("cannot parse signature-vectors.json: {error}"));
    vectors.cases
}

/// Whether the server accepts the case, as `Ok(claim)` or the reason it refuses.
fn server_verdict(case: &Case) -> Result<Claim, String> {
    let req = case.raw();
    let params = case.params()?;
    let claim =
        signature::inspect(&req, &params).map_err(|error| format!("inspect refused: {error}"))?;
    if claim.access_key_id != case.access_key_id {
        return Err(format!("unknown AccessKeyId {}", claim.access_key_id));
    }
    match signature::verify(&req, &params, &claim, &case.access_key_secret) {
        Ok(()) => Ok(claim),
        Err(SignatureError::Mismatch { string_to_sign }) => {
            // The string to sign the API reports must be the one the vector recorded.
            if string_to_sign != case.expected.string_to_sign {
                return Err(format!(
                    "mismatch reported string to sign {string_to_sign:?}, vector has {:?}",
                    case.expected.string_to_sign
                ));
            }
            Err("signature mismatch".to_owned())
        }
        Err(error) => Err(format!("verify refused: {error}")),
    }
}

/// Checks the recorded intermediate values, for positive and negative cases alike.
fn check_intermediates(case: &Case) -> Result<(), String> {
    let req = case.raw();
    let (string_to_sign, signature) = match case.mode.as_str() {
        "acs3-hmac-sha256" => {
            let authorization = case.header("authorization").ok_or("no Authorization")?;
            let signed_headers: Vec<String> = authorization
                .split(',')
                .find_map(|field| field.trim().strip_prefix("SignedHeaders="))
                .ok_or("no SignedHeaders")?
                .split(';')
                .map(str::to_owned)
                .collect();
            let canonical = acs3_canonical_request(&req, &signed_headers)
                .map_err(|error| format!("canonical request refused: {error}"))?;
            if Some(&canonical) != case.expected.canonical_request.as_ref() {
                return Err(format!(
                    "canonical request differs:\n got: {canonical:?}\nwant: {:?}",
                    case.expected.canonical_request
                ));
            }
            let string_to_sign = acs3_string_to_sign(&canonical);
            let signature = acs3_signature(&case.access_key_secret, &string_to_sign);
            (string_to_sign, signature)
        }
        "rpc-hmac-sha1" => {
            let string_to_sign = rpc_string_to_sign(&case.request.method, &case.params()?);
            let signature = rpc_signature(&case.access_key_secret, &string_to_sign);
            (string_to_sign, signature)
        }
        other => return Err(format!("unexpected mode {other}")),
    };
    if string_to_sign != case.expected.string_to_sign {
        return Err(format!(
            "string to sign differs:\n got: {string_to_sign:?}\nwant: {:?}",
            case.expected.string_to_sign
        ));
    }
    if signature != case.server_signature() {
        return Err(format!(
            "signature differs: got {signature}, want {}",
            case.server_signature()
        ));
    }
    Ok(())
}

/// SM3 is optional in the spec; bpops does not implement it and must say so, not mismatch.
fn check_sm3_is_refused(case: &Case) -> Result<(), String> {
    let result = signature::inspect(&case.raw(), &case.params()?);
    match result {
        Err(SignatureError::Incomplete(reason))
            if reason.contains("unsupported") && reason.contains("ACS3-HMAC-SM3") =>
        {
            Ok(())
        }
        other => Err(format!("SM3 must be refused as unsupported, got {other:?}")),
    }
}

fn check_case(case: &Case) -> Result<(), String> {
    if case.mode == "acs3-hmac-sm3" {
        if !case.optional {
            return Err("the SM3 case is no longer marked optional".to_owned());
        }
        return check_sm3_is_refused(case);
    }
    check_intermediates(case)?;
    match (server_verdict(case), case.should_verify) {
        (Ok(claim), true) => {
            let expected_scheme = if case.mode == "rpc-hmac-sha1" {
                Scheme::Rpc
            } else {
                Scheme::Acs3
            };
            if claim.scheme != expected_scheme
                || claim.action.as_deref() != Some(case.action.as_str())
                || claim.version.as_deref() != Some(API_VERSION)
            {
                return Err(format!("accepted with an unexpected claim {claim:?}"));
            }
            Ok(())
        }
        (Err(_), false) => Ok(()),
        (Ok(_), false) => Err("accepted, but the vector says it must be refused".to_owned()),
        (Err(reason), true) => Err(format!("refused ({reason}), but must verify")),
    }
}

#[test]
fn every_signature_vector_gets_its_verdict() {
    let cases = load();
    assert!(!cases.is_empty(), "the vector file holds no case");
    let failures: Vec<String> = cases
        .iter()
        .filter_map(|case| {
            check_case(case)
                .err()
                .map(|reason| format!("{}: {reason}", case.id))
        })
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} vectors failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

#[test]
fn the_vectors_cover_both_schemes_and_both_verdicts() {
    let cases = load();
    for (mode, should_verify) in [
        ("acs3-hmac-sha256", true),
        ("acs3-hmac-sha256", false),
        ("rpc-hmac-sha1", true),
        ("rpc-hmac-sha1", false),
    ] {
        assert!(
            cases
                .iter()
                .any(|c| c.mode == mode && c.should_verify == should_verify),
            "no {mode} case with should_verify={should_verify}"
        );
    }
}
