//! Adding a field to a JSON object without indexing (which the workspace
//! lints forbid outside tests). Pure.

use serde_json::Value;

/// Sets `name` to `field` when `value` is an object; otherwise nothing.
pub fn set(value: &mut Value, name: &str, field: Value) {
    if let Some(object) = value.as_object_mut() {
        object.insert(name.to_owned(), field);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn objects_gain_the_field_and_others_are_left_alone() {
        let mut object = json!({"a": 1});
        set(&mut object, "b", json!(2));
        assert_eq!(object, json!({"a": 1, "b": 2}));
        let mut list = json!([1]);
        set(&mut list, "b", json!(2));
        assert_eq!(list, json!([1]));
    }
}
