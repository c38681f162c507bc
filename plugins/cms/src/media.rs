//! Media types of uploaded assets: checking what the client claims,
//! recognising images by their first bytes, and the metadata rules
//! (filename, title, alt text, tags). Pure: no kernel calls.

use crate::schema::Invalid;

/// An image format the plugin recognises by its signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageKind {
    /// `image/png`.
    Png,
    /// `image/jpeg`.
    Jpeg,
    /// `image/gif` (recognised and measured, not decoded for renditions).
    Gif,
    /// `image/webp`.
    Webp,
}

impl ImageKind {
    /// Its media type.
    pub fn media_type(self) -> &'static str {
        match self {
            ImageKind::Png => "image/png",
            ImageKind::Jpeg => "image/jpeg",
            ImageKind::Gif => "image/gif",
            ImageKind::Webp => "image/webp",
        }
    }

    /// The format whose media type is `media_type`.
    pub fn from_media_type(media_type: &str) -> Option<Self> {
        [
            ImageKind::Png,
            ImageKind::Jpeg,
            ImageKind::Gif,
            ImageKind::Webp,
        ]
        .into_iter()
        .find(|kind| kind.media_type() == media_type)
    }
}

/// The image format `bytes` start with, if any.
pub fn sniff(bytes: &[u8]) -> Option<ImageKind> {
    if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some(ImageKind::Png)
    } else if bytes.starts_with(&[0xff, 0xd8, 0xff]) {
        Some(ImageKind::Jpeg)
    } else if bytes.starts_with(b"GIF87a") || bytes.starts_with(b"GIF89a") {
        Some(ImageKind::Gif)
    } else if bytes.len() >= 12
        && bytes.starts_with(b"RIFF")
        && bytes.get(8..12) == Some(b"WEBP".as_slice())
    {
        Some(ImageKind::Webp)
    } else {
        None
    }
}

fn is_token(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= 127
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$&-^_.+".contains(&b))
}

/// The media type of a `Content-Type` header: `type/subtype` in lower case,
/// parameters kept as sent (`text/plain; charset=utf-8`). `None` when it is
/// not of that form.
pub fn media_type(header: &str) -> Option<String> {
    let (essence, parameters) = match header.split_once(';') {
        Some((essence, parameters)) => (essence, Some(parameters)),
        None => (header, None),
    };
    let essence = essence.trim().to_ascii_lowercase();
    let (kind, subtype) = essence.split_once('/')?;
    if !is_token(kind) || !is_token(subtype) {
        return None;
    }
    match parameters.map(str::trim) {
        Some(parameters) if !parameters.is_empty() => {
            if parameters.len() > 200 || parameters.chars().any(char::is_control) {
                return None;
            }
            Some(format!("{essence}; {parameters}"))
        }
        _ => Some(essence),
    }
}

/// The part of a media type before its parameters.
pub fn essence(media_type: &str) -> &str {
    media_type.split(';').next().unwrap_or_default().trim()
}

/// The media type to store for `bytes` sent as `claimed`: a recognised
/// image is stored as what its bytes are, whatever the client said (a JPEG
/// sent as `image/png` is `image/jpeg`); bytes claimed as PNG, JPEG, GIF or
/// WebP that are none of them are refused; anything else is stored as
/// claimed.
pub fn settle(claimed: &str, bytes: &[u8]) -> Result<String, String> {
    if let Some(kind) = sniff(bytes) {
        return Ok(kind.media_type().to_owned());
    }
    if ImageKind::from_media_type(essence(claimed)).is_some() {
        return Err(format!(
            "the body is not a {} image (its first bytes are not that format's signature)",
            essence(claimed)
        ));
    }
    Ok(claimed.to_owned())
}

/// The width and height of a GIF from its header.
pub fn gif_dimensions(bytes: &[u8]) -> Option<(u32, u32)> {
    let width = u16::from_le_bytes([*bytes.get(6)?, *bytes.get(7)?]);
    let height = u16::from_le_bytes([*bytes.get(8)?, *bytes.get(9)?]);
    Some((u32::from(width), u32::from(height)))
}

/// Longest filename, title and tag, in characters.
pub const MAX_FILENAME: usize = 255;
/// Longest title, in characters.
pub const MAX_TITLE: usize = 200;
/// Longest alt text, in characters.
pub const MAX_ALT: usize = 1000;
/// Most tags per asset.
pub const MAX_TAGS: usize = 32;
/// Longest tag, in characters.
pub const MAX_TAG: usize = 64;

/// Checks a filename: 1 to 255 characters, no `/`, `\` or control
/// characters, not `.` or `..`.
pub fn check_filename(name: &str) -> Result<(), Invalid> {
    let valid = !name.is_empty()
        && name.chars().count() <= MAX_FILENAME
        && name != "."
        && name != ".."
        && !name
            .chars()
            .any(|c| c == '/' || c == '\\' || c.is_control());
    if valid {
        Ok(())
    } else {
        Err(Invalid::new(
            "filename",
            format!(
                "`{name}` is not a filename: use 1 to {MAX_FILENAME} characters without `/`, `\\` or control characters"
            ),
        ))
    }
}

/// Checks a text of at most `max` characters without control characters
/// other than newlines and tabs.
pub fn check_text(field: &str, text: &str, max: usize) -> Result<(), Invalid> {
    if text.chars().count() > max {
        return Err(Invalid::new(
            field,
            format!("must be at most {max} characters"),
        ));
    }
    if text
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t')
    {
        return Err(Invalid::new(field, "must not contain control characters"));
    }
    Ok(())
}

/// The tags as stored: trimmed, empty ones dropped, duplicates removed
/// (first kept); each 1 to 64 characters without `,` or control characters,
/// at most 32.
pub fn tags<'a>(raw: impl IntoIterator<Item = &'a str>) -> Result<Vec<String>, Invalid> {
    let mut out: Vec<String> = Vec::new();
    for tag in raw.into_iter().map(str::trim).filter(|tag| !tag.is_empty()) {
        if tag.chars().count() > MAX_TAG || tag.contains(',') || tag.chars().any(char::is_control) {
            return Err(Invalid::new(
                "tags",
                format!(
                    "`{tag}` is not a tag: use 1 to {MAX_TAG} characters without `,` or control characters"
                ),
            ));
        }
        if !out.iter().any(|seen| seen == tag) {
            out.push(tag.to_owned());
        }
    }
    if out.len() > MAX_TAGS {
        return Err(Invalid::new(
            "tags",
            format!("at most {MAX_TAGS} tags per asset"),
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_types_are_checked_and_normalised() {
        assert_eq!(media_type("Image/PNG").as_deref(), Some("image/png"));
        assert_eq!(
            media_type("text/plain; charset=utf-8").as_deref(),
            Some("text/plain; charset=utf-8")
        );
        assert_eq!(media_type("text/plain;").as_deref(), Some("text/plain"));
        assert_eq!(media_type(""), None);
        assert_eq!(media_type("png"), None);
        assert_eq!(media_type("image/"), None);
        assert_eq!(media_type("a b/c"), None);
        assert_eq!(essence("text/plain; charset=utf-8"), "text/plain");
    }

    #[test]
    fn images_are_recognised_by_their_bytes() {
        assert_eq!(sniff(b"\x89PNG\r\n\x1a\nrest"), Some(ImageKind::Png));
        assert_eq!(sniff(&[0xff, 0xd8, 0xff, 0xe0]), Some(ImageKind::Jpeg));
        assert_eq!(sniff(b"GIF89a\x02\x00\x03\x00"), Some(ImageKind::Gif));
        assert_eq!(sniff(b"RIFF\0\0\0\0WEBPVP8 "), Some(ImageKind::Webp));
        assert_eq!(sniff(b"hello"), None);
        assert_eq!(gif_dimensions(b"GIF89a\x02\x01\x03\x00"), Some((258, 3)));
    }

    #[test]
    fn the_bytes_decide_an_image_type() {
        let jpeg = [0xff, 0xd8, 0xff, 0xe0, 0, 0];
        assert_eq!(settle("image/png", &jpeg).as_deref(), Ok("image/jpeg"));
        assert_eq!(
            settle("application/octet-stream", &jpeg).as_deref(),
            Ok("image/jpeg")
        );
        assert!(settle("image/png", b"not a png").is_err());
        assert_eq!(
            settle("text/plain; charset=utf-8", b"hi").as_deref(),
            Ok("text/plain; charset=utf-8")
        );
        assert_eq!(
            settle("image/svg+xml", b"<svg/>").as_deref(),
            Ok("image/svg+xml")
        );
    }

    #[test]
    fn metadata_rules() {
        assert!(check_filename("photo.png").is_ok());
        assert!(check_filename("").is_err());
        assert!(check_filename("../etc/passwd").is_err());
        assert!(check_filename("a\nb").is_err());
        assert!(check_text("title", "A title", MAX_TITLE).is_ok());
        assert!(check_text("title", &"x".repeat(MAX_TITLE + 1), MAX_TITLE).is_err());
        assert_eq!(
            tags(["a", " b ", "", "a"]).unwrap(),
            vec!["a".to_owned(), "b".to_owned()]
        );
        assert!(tags(["x".repeat(MAX_TAG + 1).as_str()]).is_err());
        let many: Vec<String> = (0..=MAX_TAGS).map(|n| n.to_string()).collect();
        assert!(tags(many.iter().map(String::as_str)).is_err());
    }
}
