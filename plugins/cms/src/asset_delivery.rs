//! `GET /delivery/assets/{id}`: an asset's bytes for any caller, with its
//! media type, a strong ETag (its SHA-256), `If-None-Match`, single byte
//! ranges, and image renditions (`?w=&h=&fit=&format=`) made on the first
//! request and served from storage after.

use tessera_sdk::prelude::*;

use crate::assets::{self, Asset};
use crate::blobs::{self, Blob, Stored};
use crate::conditional::Validators;
use crate::media::{self, ImageKind};
use crate::ranges::{self, Plan};
use crate::renditions::{self, Failure, Spec};

/// `Cache-Control` of asset responses. The bytes behind an asset id never
/// change, but an asset can be deleted, so caches keep it an hour and
/// revalidate with the ETag after.
pub const CACHE_CONTROL: &str = "public, max-age=3600";
/// Sent with every asset: browsers must not guess another type, and an
/// uploaded HTML or SVG file runs no script and loads nothing.
const CSP: &str = "default-src 'none'; img-src 'self' data:; style-src 'unsafe-inline'; sandbox";

/// What is served: the original or a rendition.
enum Source {
    Original,
    Cached(String, Stored),
    Generated(String, Vec<u8>, &'static str),
}

fn render_error(id: &str, failure: Failure) -> Error {
    match failure {
        Failure::Unsupported(message) => {
            Error::new(415, "unsupported_image", format!("asset `{id}`: {message}"))
        }
        Failure::TooLarge(message) => {
            Error::new(422, "image_too_large", format!("asset `{id}`: {message}"))
        }
        Failure::Malformed(message) => {
            Error::new(422, "malformed_image", format!("asset `{id}`: {message}"))
        }
        Failure::Encode(message) => Error::internal(format!("asset `{id}`: {message}")),
    }
}

fn rendition(site: &str, asset: &Asset, blob: &Blob, spec: &Spec) -> Result<Source, Error> {
    let kind = ImageKind::from_media_type(media::essence(&asset.content_type)).ok_or_else(|| {
        Error::new(
            415,
            "not_an_image",
            format!(
                "asset `{}` is {}: renditions (w, h, fit, format) are for PNG, JPEG and WebP images",
                asset.id, asset.content_type
            ),
        )
    })?;
    let key = spec.key(kind);
    if let Some(stored) = blobs::rendition(site, blob, &key)? {
        return Ok(Source::Cached(key, stored));
    }
    let bytes = blobs::read(site, blob, 0, blob.size.saturating_sub(1))?;
    let rendered = renditions::render(&bytes, kind, spec)
        .map_err(|failure| render_error(&asset.id, failure))?;
    drop(bytes);
    let stored = Stored {
        media_type: rendered.media_type.to_owned(),
        size: rendered.bytes.len() as u64,
        width: rendered.width,
        height: rendered.height,
    };
    // A failure to cache is logged: the rendition is still served.
    if let Err(error) = blobs::store_rendition(site, blob, &key, &stored, &rendered.bytes) {
        log::warn(&format!(
            "cannot cache rendition {key} of asset {}: {error}",
            asset.id
        ));
    }
    Ok(Source::Generated(key, rendered.bytes, rendered.media_type))
}

/// `GET` and `HEAD /delivery/assets/{id}`.
pub fn serve(request: &Request, params: &Params) -> Result<Response, Error> {
    let site = identity::current().site;
    let id = params.require("id")?;
    let (asset, _) = assets::get(&site, id)?;
    let blob = blobs::get(&site, &asset.sha256)?.ok_or_else(|| {
        Error::internal(format!(
            "the bytes of asset `{id}` are missing from storage"
        ))
    })?;
    let spec = renditions::spec(&request.query_pairs())
        .map_err(|message| Error::new(400, "invalid_query", message))?;
    let source = match &spec {
        None => Source::Original,
        Some(spec) => rendition(&site, &asset, &blob, spec)?,
    };
    let (tag, content_type, size, marker) = match &source {
        Source::Original => (
            format!("\"{}\"", asset.sha256),
            asset.content_type.clone(),
            asset.size,
            None,
        ),
        Source::Cached(key, stored) => (
            format!("\"{}-{key}\"", asset.sha256),
            stored.media_type.clone(),
            stored.size,
            Some("cached"),
        ),
        Source::Generated(key, bytes, media_type) => (
            format!("\"{}-{key}\"", asset.sha256),
            (*media_type).to_owned(),
            bytes.len() as u64,
            Some("generated"),
        ),
    };
    let headers = |response: Response| {
        let response = response
            .with_header("etag", tag.clone())
            .with_header("cache-control", CACHE_CONTROL)
            .with_header("accept-ranges", "bytes")
            .with_header("x-content-type-options", "nosniff")
            .with_header("content-security-policy", CSP);
        match marker {
            Some(marker) => response.with_header("x-rendition", marker),
            None => response,
        }
    };
    let validators = Validators {
        if_none_match: request.header("if-none-match"),
        if_modified_since: None,
    };
    if validators.not_modified(&tag, None) {
        return Ok(headers(Response::empty(304)));
    }
    let plan = if ranges::if_range_allows(request.header("if-range"), &tag) {
        ranges::plan(request.header("range"), size)
    } else {
        Plan::Full
    };
    let (status, start, end) = match plan {
        Plan::Full => (200, 0, size.saturating_sub(1)),
        Plan::Part { start, end } => (206, start, end),
        Plan::Unsatisfiable => {
            let refusal: Response = Error::new(
                416,
                "range_not_satisfiable",
                format!("asset `{id}` has {size} bytes"),
            )
            .into();
            return Ok(headers(refusal).with_header("content-range", format!("bytes */{size}")));
        }
    };
    let body = if size == 0 {
        Vec::new()
    } else {
        match &source {
            Source::Original => blobs::read(&site, &blob, start, end)?,
            Source::Cached(key, stored) => {
                blobs::read_rendition(&site, &blob, key, stored, start, end)?
            }
            Source::Generated(_, bytes, _) => {
                let from = usize::try_from(start).unwrap_or(usize::MAX);
                let to = usize::try_from(end.saturating_add(1)).unwrap_or(usize::MAX);
                bytes.get(from..to).map(<[u8]>::to_vec).unwrap_or_default()
            }
        }
    };
    let mut response = headers(Response {
        status,
        headers: vec![("content-type".to_owned(), content_type)],
        body,
    });
    if status == 206 {
        response = response.with_header("content-range", ranges::content_range(start, end, size));
    }
    // For HEAD the kernel's HTTP server sends the headers and the length
    // of this body, not the body.
    Ok(response)
}
