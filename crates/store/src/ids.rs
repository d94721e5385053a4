//! Identifier newtypes: an account id and the unguessable operation id.

use std::fmt;
use std::str::FromStr;

/// An account, the unit of tenancy: every operation, resource and key belongs to one.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AccountId(String);

impl AccountId {
    /// Wraps an account id as configured.
    pub fn new(id: impl Into<String>) -> Self {
        Self(id.into())
    }

    /// The id as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for AccountId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

const ALPHABET: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const PREFIX: &str = "op_";
/// 62^22 > 2^128, so 22 base-62 digits hold 128 random bits.
const DIGITS: usize = 22;

/// An operation id: `op_` and 22 characters `[0-9A-Za-z]` encoding 128 random bits.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct OperationId(String);

impl OperationId {
    /// A new random id from the operating system's generator.
    pub fn random() -> Self {
        let mut bytes = [0u8; 16];
        getrandom::fill(&mut bytes).expect("the operating system has no random source");
        Self::from_bits(u128::from_le_bytes(bytes))
    }

    fn from_bits(mut n: u128) -> Self {
        let mut digits = [b'0'; DIGITS];
        for d in digits.iter_mut().rev() {
            *d = ALPHABET[(n % 62) as usize];
            n /= 62;
        }
        let digits = std::str::from_utf8(&digits).expect("the alphabet is ASCII");
        Self(format!("{PREFIX}{digits}"))
    }

    /// The id as sent on the wire.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for OperationId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The text is not an operation id.
#[derive(Debug, thiserror::Error)]
#[error("an operation id is `op_` followed by 22 characters [0-9A-Za-z]")]
pub struct InvalidOperationId;

impl FromStr for OperationId {
    type Err = InvalidOperationId;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let digits = s.strip_prefix(PREFIX).ok_or(InvalidOperationId)?;
        if digits.len() == DIGITS && digits.bytes().all(|b| b.is_ascii_alphanumeric()) {
            Ok(Self(s.to_owned()))
        } else {
            Err(InvalidOperationId)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_ids_have_the_wire_shape_and_differ() {
        let a = OperationId::random();
        let b = OperationId::random();
        assert_ne!(a, b);
        for id in [&a, &b] {
            assert_eq!(id.as_str().len(), 25);
            assert!(id.as_str().parse::<OperationId>().is_ok(), "{id}");
        }
    }

    #[test]
    fn extreme_bit_patterns_fit_in_22_digits() {
        assert_eq!(
            OperationId::from_bits(0).as_str(),
            "op_0000000000000000000000"
        );
        let max = OperationId::from_bits(u128::MAX);
        assert!(max.as_str().parse::<OperationId>().is_ok());
        assert_ne!(&max.as_str()[3..4], "0", "u128::MAX uses all 22 digits");
    }

    #[test]
    fn parsing_rejects_other_shapes() {
        for bad in [
            "",
            "op_",
            "op_short",
            "xx_0000000000000000000000",
            "op_000000000000000000000!",
            "op_00000000000000000000000",
        ] {
            assert!(bad.parse::<OperationId>().is_err(), "{bad}");
        }
    }
}
