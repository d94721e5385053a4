//! `[node]`: the name of this node, which its claims record in operation histories, so an
//! operator reading one knows which machine and which process ran each attempt.

use anyhow::bail;

use super::raw::RawNode;

/// The longest name accepted, in characters.
const MAX_NAME_CHARS: usize = 64;

/// `[node] name`, or `<hostname>:<pid>` by default: the machine to look at, and the process
/// whose logs tell the rest (a restarted node is a new process, under a new name).
pub(super) fn name(raw: &RawNode) -> anyhow::Result<String> {
    let Some(name) = &raw.name else {
        let host = nix::unistd::gethostname()
            .ok()
            .and_then(|host| host.into_string().ok())
            .filter(|host| !host.is_empty())
            .unwrap_or_else(|| "localhost".to_owned());
        return Ok(format!("{host}:{}", std::process::id()));
    };
    if name.is_empty() || name.chars().count() > MAX_NAME_CHARS {
        bail!("[node] name must be 1 to {MAX_NAME_CHARS} characters");
    }
    if name.chars().any(char::is_control) {
        bail!("[node] name {name:?} must not hold control characters");
    }
    Ok(name.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn named(given: Option<&str>) -> anyhow::Result<String> {
        name(&RawNode {
            name: given.map(str::to_owned),
        })
    }

    #[test]
    fn a_node_is_named_by_its_host_and_process_unless_the_file_says() {
        let default = named(None).unwrap();
        assert!(
            default.ends_with(&format!(":{}", std::process::id())),
            "{default}"
        );
        assert_eq!(named(Some("web-1")).unwrap(), "web-1");
    }

    #[test]
    fn an_empty_long_or_unprintable_name_is_refused() {
        let long = "n".repeat(MAX_NAME_CHARS + 1);
        for bad in ["", long.as_str(), "a\nb"] {
            let error = named(Some(bad)).unwrap_err().to_string();
            assert!(error.starts_with("[node] name"), "{error}");
        }
        assert!(named(Some(&"n".repeat(MAX_NAME_CHARS))).is_ok());
    }
}
