//! The `*` and `?` wildcards of actions, resources and `StringLike`: `*` matches any run of
//! characters (`:` and `/` included), `?` exactly one character.

/// Whether `text` matches `pattern`; with `ignore_case`, both are compared lower-cased
/// (actions are case-insensitive in RAM, resources and `StringLike` values are not).
pub(crate) fn matches(pattern: &str, text: &str, ignore_case: bool) -> bool {
    if ignore_case {
        let (pattern, text) = (pattern.to_lowercase(), text.to_lowercase());
        glob(&chars(&pattern), &chars(&text))
    } else {
        glob(&chars(pattern), &chars(text))
    }
}

fn chars(s: &str) -> Vec<char> {
    s.chars().collect()
}

/// Iterative matching with one backtrack point (the last `*`): linear in practice and at
/// worst O(pattern × text), never exponential, whatever a policy author writes.
fn glob(pattern: &[char], text: &[char]) -> bool {
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match pattern.get(p) {
            Some('*') => {
                star = Some((p, t));
                p += 1;
            }
            Some('?') => {
                p += 1;
                t += 1;
            }
            Some(c) if *c == text[t] => {
                p += 1;
                t += 1;
            }
            _ => match star {
                Some((star_p, star_t)) => {
                    p = star_p + 1;
                    t = star_t + 1;
                    star = Some((star_p, star_t + 1));
                }
                None => return false,
            },
        }
    }
    pattern[p..].iter().all(|c| *c == '*')
}

#[cfg(test)]
mod tests {
    use super::matches;

    #[test]
    fn stars_and_question_marks() {
        let cases = [
            ("*", "", true),
            ("*", "anything:at/all", true),
            ("", "", true),
            ("", "a", false),
            ("a?c", "abc", true),
            ("a?c", "ac", false),
            ("a*c", "ac", true),
            ("a*c", "abbbc", true),
            ("a*c", "abbbd", false),
            ("*a*b*", "xxaxxbxx", true),
            ("*a*b*", "xxbxxaxx", false),
            ("ab", "abc", false),
            ("测?", "测试", true),
        ];
        for (pattern, text, expected) in cases {
            assert_eq!(
                matches(pattern, text, false),
                expected,
                "{pattern} ~ {text}"
            );
        }
        assert!(matches(
            "BPStudio:Get*",
            "bpstudio:getexecuteoperationresult",
            true
        ));
        assert!(!matches("APP-*", "app-web", false));
    }

    #[test]
    fn pathological_patterns_finish_quickly() {
        let pattern = "*a".repeat(50);
        let text = "a".repeat(5000) + "b";
        assert!(!matches(&pattern, &text, false));
    }
}
