//! Reading query-string parameters of kernel endpoints.

/// The value of parameter `name` in `query` (`a=1&b=2`), if present.
/// Values are taken as they are: kernel parameters are ids, numbers and
/// dotted names that need no percent-decoding.
pub fn param(query: &str, name: &str) -> Option<String> {
    query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_parameters_by_name() {
        assert_eq!(
            param("a=1&site=partners", "site").as_deref(),
            Some("partners")
        );
        assert_eq!(param("a=1", "site"), None);
        assert_eq!(param("", "site"), None);
        assert_eq!(param("siteX=1&site=2", "site").as_deref(), Some("2"));
    }
}
