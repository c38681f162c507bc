//! Reference and asset expansion in the delivery API:
//! `expand=author,author.company,hero`. A reference field's entry id is
//! replaced by that entry as the delivery API renders it (published only,
//! in the asked locale; `null` when it is not published), an asset field's
//! id by the asset's public description with its URL. Paths go at most
//! [`MAX_DEPTH`] references deep, and a query names at most [`MAX_PATHS`].

use serde_json::{Value, json};
use tessera_sdk::Error;

use crate::assets;
use crate::delivery::render;
use crate::locales::Locales;
use crate::model::StoredType;
use crate::schema::Kind;
use crate::store;

/// How many references deep an expansion may go (`a.b` is two).
pub const MAX_DEPTH: usize = 2;
/// How many paths one `expand` may name.
pub const MAX_PATHS: usize = 8;

/// Parses `expand`: comma-separated dotted paths of field names.
pub fn parse(text: Option<&str>) -> Result<Vec<Vec<String>>, String> {
    let Some(text) = text else {
        return Ok(Vec::new());
    };
    let paths: Vec<Vec<String>> = text
        .split(',')
        .filter(|path| !path.is_empty())
        .map(|path| path.split('.').map(str::to_owned).collect())
        .collect();
    if paths.len() > MAX_PATHS {
        return Err(format!("`expand`: at most {MAX_PATHS} paths"));
    }
    if let Some(deep) = paths.iter().find(|path| path.len() > MAX_DEPTH) {
        return Err(format!(
            "`expand`: `{}` goes deeper than {MAX_DEPTH} references",
            deep.join(".")
        ));
    }
    Ok(paths)
}

fn invalid(message: String) -> Error {
    Error::new(400, "invalid_query", format!("`expand`: {message}"))
}

/// Checks every path against the types on `site` before anything is read:
/// each step a reference field (then the next step is a field of its
/// target type) or, last, an asset field.
pub fn check(site: &str, stored: &StoredType, paths: &[Vec<String>]) -> Result<(), Error> {
    for path in paths {
        let mut current = stored.clone();
        for (depth, name) in path.iter().enumerate() {
            let field = current
                .def
                .field(name)
                .ok_or_else(|| invalid(format!("`{name}` is not a field of `{}`", current.key)))?;
            let last = depth + 1 == path.len();
            match (field.kind, last) {
                (Kind::Reference, _) => {
                    if !last {
                        let to = field.to.as_deref().unwrap_or_default();
                        current = store::latest_type(site, to)?;
                    }
                }
                (Kind::Asset, true) => {}
                _ => {
                    return Err(invalid(format!(
                        "`{name}` of `{}` is not a reference{} field",
                        current.key,
                        if last { " or asset" } else { "" }
                    )));
                }
            }
        }
    }
    Ok(())
}

/// What expansion reads with.
pub struct Expander<'a> {
    /// The site.
    pub site: &'a str,
    /// The locale to render in.
    pub locale: &'a str,
    /// The configured locales.
    pub locales: &'a Locales,
}

impl Expander<'_> {
    /// Expands `paths` (already [`check`]ed) in the rendered document `doc`
    /// of type `stored`.
    pub fn apply(
        &self,
        stored: &StoredType,
        doc: &mut Value,
        paths: &[Vec<String>],
    ) -> Result<(), Error> {
        for path in paths {
            self.expand_path(stored, doc, path)?;
        }
        Ok(())
    }

    fn expand_path(
        &self,
        stored: &StoredType,
        doc: &mut Value,
        path: &[String],
    ) -> Result<(), Error> {
        let Some((name, rest)) = path.split_first() else {
            return Ok(());
        };
        let Some(field) = stored.def.field(name) else {
            return Ok(());
        };
        let Some(slot) = doc
            .get_mut("fields")
            .and_then(|fields| fields.get_mut(name))
        else {
            return Ok(());
        };
        let target = match (field.kind, field.to.as_deref()) {
            (Kind::Reference, Some(to)) => Some(store::latest_type(self.site, to)?),
            _ => None,
        };
        let mut expand_one = |value: &mut Value| -> Result<(), Error> {
            match value {
                // Expanded by an earlier path (`author` then `author.company`).
                Value::Object(_) => {}
                Value::String(id) => {
                    *value = match &target {
                        Some(target) => self.entry(target, id)?,
                        None => self.asset(id)?,
                    };
                }
                _ => return Ok(()),
            }
            if let (Some(target), false) = (&target, rest.is_empty())
                && value.is_object()
            {
                self.expand_path(target, value, rest)?;
            }
            Ok(())
        };
        match slot {
            Value::Array(items) => items.iter_mut().try_for_each(&mut expand_one),
            one => expand_one(one),
        }
    }

    /// The published entry `id` of `target`, rendered; `null` when it is
    /// not published.
    fn entry(&self, target: &StoredType, id: &str) -> Result<Value, Error> {
        Ok(match store::published(self.site, &target.key, id)? {
            Some(doc) => render(doc, &target.def, self.locale, self.locales),
            None => Value::Null,
        })
    }

    /// The public description of asset `id`; `null` when it is gone.
    fn asset(&self, id: &str) -> Result<Value, Error> {
        match assets::get(self.site, id) {
            Ok((asset, _)) => Ok(json!({
                "id": asset.id,
                "url": format!("/api/cms/delivery/assets/{}", asset.id),
                "filename": asset.filename,
                "content_type": asset.content_type,
                "size": asset.size,
                "width": asset.width,
                "height": asset.height,
                "title": asset.title,
                "alt": asset.alt,
            })),
            Err(error) if error.status == 404 => Ok(Value::Null),
            Err(error) => Err(error),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_dotted_bounded_and_few() {
        assert_eq!(parse(None), Ok(Vec::new()));
        assert_eq!(
            parse(Some("author,author.company,hero")),
            Ok(vec![
                vec!["author".to_owned()],
                vec!["author".to_owned(), "company".to_owned()],
                vec!["hero".to_owned()],
            ])
        );
        assert!(parse(Some("a.b.c")).unwrap_err().contains("deeper than 2"));
        assert!(
            parse(Some("a,b,c,d,e,f,g,h,i"))
                .unwrap_err()
                .contains("at most 8")
        );
    }
}
