//! RPC v1 HMAC-SHA1 (wire-protocol.md §3), used by tea with `signature_algorithm='v2'` and by
//! the classic SDK. It signs the decoded parameters and no header, so any equivalent
//! re-encoding or re-ordering of the query or body still verifies.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha1::Sha1;

use super::{Claim, Scheme, SignatureError, ensure_claim_matches, required};
use crate::params::{Params, excerpt, percent_encode};

/// The parameter holding the signature; itself excluded from what is signed.
pub(super) const SIGNATURE_PARAM: &str = "Signature";

type HmacSha1 = Hmac<Sha1>;

/// Reads the claim and checks the common parameters (§3 step 2).
pub(super) fn read(params: &Params) -> Result<Claim, SignatureError> {
    let signature = params.get(SIGNATURE_PARAM).ok_or(SignatureError::Missing)?;
    required(Some(signature), "parameter Signature")?;
    expect_param(params, "SignatureMethod", "HMAC-SHA1")?;
    expect_param(params, "SignatureVersion", "1.0")?;
    Ok(Claim {
        scheme: Scheme::Rpc,
        access_key_id: required(params.get("AccessKeyId"), "parameter AccessKeyId")?,
        timestamp: required(params.get("Timestamp"), "parameter Timestamp")?,
        nonce: required(params.get("SignatureNonce"), "parameter SignatureNonce")?,
        action: params.get("Action").map(str::to_owned),
        version: params.get("Version").map(str::to_owned),
    })
}

pub(super) fn verify(
    method: &str,
    params: &Params,
    claim: &Claim,
    secret: &str,
) -> Result<(), SignatureError> {
    ensure_claim_matches(&read(params)?, claim)?;
    let string_to_sign = rpc_string_to_sign(method, params);
    let sent = params.get(SIGNATURE_PARAM).unwrap_or_default();
    let matches = STANDARD.decode(sent).is_ok_and(|sent| {
        keyed(secret)
            .chain_update(string_to_sign.as_bytes())
            .verify_slice(&sent)
            .is_ok()
    });
    if matches {
        Ok(())
    } else {
        Err(SignatureError::Mismatch { string_to_sign })
    }
}

/// `METHOD&%2F&PE(canonicalized)`, where canonicalized joins `PE(key)=PE(value)` for every
/// parameter but `Signature`, sorted by key (§3 steps 3 to 5). Empty values are signed too.
pub fn rpc_string_to_sign(method: &str, params: &Params) -> String {
    let canonicalized = params
        .iter()
        .filter(|(key, _)| *key != SIGNATURE_PARAM)
        .map(|(key, value)| format!("{}={}", percent_encode(key), percent_encode(value)))
        .collect::<Vec<_>>()
        .join("&");
    format!(
        "{}&{}&{}",
        method.to_ascii_uppercase(),
        percent_encode("/"),
        percent_encode(&canonicalized)
    )
}

/// Standard base64 of HMAC-SHA1 over `string_to_sign`, keyed with `secret` followed by `&`
/// (§3 step 6).
pub fn rpc_signature(secret: &str, string_to_sign: &str) -> String {
    let mac = keyed(secret).chain_update(string_to_sign.as_bytes());
    STANDARD.encode(mac.finalize().into_bytes())
}

fn expect_param(params: &Params, name: &str, expected: &str) -> Result<(), SignatureError> {
    match params.get(name) {
        Some(value) if value == expected => Ok(()),
        Some(value) => Err(SignatureError::incomplete(format!(
            "parameter {name} must be {expected}, not {:?}",
            excerpt(value)
        ))),
        None => Err(SignatureError::incomplete(format!(
            "parameter {name} is missing"
        ))),
    }
}

fn keyed(secret: &str) -> HmacSha1 {
    // The RPC key is the secret with '&' appended: the empty "token secret" of the OAuth-style
    // scheme this one descends from.
    HmacSha1::new_from_slice(format!("{secret}&").as_bytes())
        .expect("HMAC accepts a key of any length")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn string_to_sign_and_signature_match_the_spec_example() {
        // wire-protocol.md §3 step 5, vector `classic-get-execute-operation-result`.
        let query = "Version=2021-09-31&Action=GetExecuteOperationResult&Format=JSON&\
            RegionId=cn-hangzhou&Timestamp=2024-05-06T07%3A08%3A09Z&SignatureMethod=HMAC-SHA1&\
            SignatureType=&SignatureVersion=1.0&SignatureNonce=ccfb46247adc5bbf06756c26c1d81e2a&\
            AccessKeyId=LTAIFAKEACCESSKEYID0001&Signature=layrFv0UjG5YsxydrHlLzoiKoEA%3D";
        let params = Params::parse(
            query,
            Some("application/x-www-form-urlencoded"),
            b"OperationId=op_7Fq2ZkL9xWm3Np8Rt5Vb1c",
        )
        .unwrap();
        let string_to_sign = rpc_string_to_sign("post", &params);
        assert_eq!(
            string_to_sign,
            "POST&%2F&AccessKeyId%3DLTAIFAKEACCESSKEYID0001%26Action%3DGetExecuteOperationResult\
             %26Format%3DJSON%26OperationId%3Dop_7Fq2ZkL9xWm3Np8Rt5Vb1c%26RegionId%3Dcn-hangzhou\
             %26SignatureMethod%3DHMAC-SHA1%26SignatureNonce%3Dccfb46247adc5bbf06756c26c1d81e2a\
             %26SignatureType%3D%26SignatureVersion%3D1.0%26Timestamp%3D2024-05-06T07%253A08%253A09Z\
             %26Version%3D2021-09-31"
        );
        assert_eq!(
            rpc_signature("FakeSecretDoNotUse+/=0123456789", &string_to_sign),
            "layrFv0UjG5YsxydrHlLzoiKoEA="
        );
    }

    #[test]
    fn keys_are_encoded_too() {
        let params = Params::parse("a%20b=c*d", None, b"").unwrap();
        assert_eq!(
            rpc_string_to_sign("GET", &params),
            "GET&%2F&a%2520b%3Dc%252Ad"
        );
    }
}
