//! Image renditions: the query parameters that ask for one, and resizing
//! and re-encoding with the pure-Rust `image` crate under allocation
//! limits. Pure: no kernel calls (caching lives in [`crate::assets`]).

use std::io::Cursor;

use image::codecs::jpeg::JpegEncoder;
use image::codecs::png::PngEncoder;
use image::codecs::webp::WebPEncoder;
use image::{DynamicImage, ImageDecoder, ImageError, ImageFormat, ImageReader, Limits};

use crate::media::ImageKind;

/// The largest width or height a rendition may ask for.
pub const MAX_SIDE: u32 = 4096;
/// The largest width or height of a source image that is decoded.
pub const MAX_SOURCE_SIDE: u32 = 16_384;
/// The most bytes decoding a source image may allocate: 48 MiB, a 12
/// megapixel RGBA image. Larger images are refused before decoding.
pub const MAX_DECODE_BYTES: u64 = 48 << 20;
/// JPEG quality of renditions.
pub const JPEG_QUALITY: u8 = 82;

/// How a rendition fits a box given by both width and height.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fit {
    /// The whole image within the box, aspect ratio kept (the default).
    Contain,
    /// The box filled, aspect ratio kept, the overflow cropped around the
    /// centre.
    Cover,
}

/// An output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// PNG.
    Png,
    /// Baseline JPEG (quality 82; transparency is dropped).
    Jpeg,
    /// Lossless WebP.
    Webp,
}

impl Format {
    fn parse(text: &str) -> Option<Self> {
        match text {
            "png" => Some(Format::Png),
            "jpeg" | "jpg" => Some(Format::Jpeg),
            "webp" => Some(Format::Webp),
            _ => None,
        }
    }

    fn of(kind: ImageKind) -> Option<Self> {
        match kind {
            ImageKind::Png => Some(Format::Png),
            ImageKind::Jpeg => Some(Format::Jpeg),
            ImageKind::Webp => Some(Format::Webp),
            ImageKind::Gif => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Format::Png => "png",
            Format::Jpeg => "jpeg",
            Format::Webp => "webp",
        }
    }

    /// Its media type.
    pub fn media_type(self) -> &'static str {
        match self {
            Format::Png => "image/png",
            Format::Jpeg => "image/jpeg",
            Format::Webp => "image/webp",
        }
    }
}

/// A rendition asked for with `w`, `h`, `fit` and `format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Spec {
    /// The box width, if given.
    pub width: Option<u32>,
    /// The box height, if given.
    pub height: Option<u32>,
    /// How to fit a box given by both.
    pub fit: Fit,
    /// The output format; `None`: the source's.
    pub format: Option<Format>,
}

/// The rendition asked for by the query `pairs`; `None` when none of `w`,
/// `h`, `fit`, `format` is given (the original is wanted). A bad value is an
/// error naming the parameter.
pub fn spec(pairs: &[(String, String)]) -> Result<Option<Spec>, String> {
    let mut spec = Spec {
        width: None,
        height: None,
        fit: Fit::Contain,
        format: None,
    };
    let mut asked = false;
    for (name, value) in pairs {
        match name.as_str() {
            "w" | "h" => {
                let side = value
                    .parse::<u32>()
                    .ok()
                    .filter(|side| (1..=MAX_SIDE).contains(side))
                    .ok_or_else(|| {
                        format!(
                            "`{name}` must be a whole number from 1 to {MAX_SIDE}, not `{value}`"
                        )
                    })?;
                if name == "w" {
                    spec.width = Some(side);
                } else {
                    spec.height = Some(side);
                }
            }
            "fit" => {
                spec.fit = match value.as_str() {
                    "contain" => Fit::Contain,
                    "cover" => Fit::Cover,
                    _ => return Err(format!("`fit` must be contain or cover, not `{value}`")),
                }
            }
            "format" => {
                spec.format =
                    Some(Format::parse(value).ok_or_else(|| {
                        format!("`format` must be png, jpeg or webp, not `{value}`")
                    })?);
            }
            _ => return Err(format!("unknown parameter `{name}`: use w, h, fit, format")),
        }
        asked = true;
    }
    Ok(asked.then_some(spec))
}

impl Spec {
    /// The cache key of this rendition of a `source` image:
    /// `w320-hauto-contain.png`. Equal for requests that give the same
    /// output.
    pub fn key(&self, source: ImageKind) -> String {
        let side = |side: Option<u32>| side.map_or_else(|| "auto".to_owned(), |n| n.to_string());
        let fit = match (self.width, self.height, self.fit) {
            (Some(_), Some(_), Fit::Cover) => "cover",
            _ => "contain",
        };
        let format = self.format.or(Format::of(source)).unwrap_or(Format::Png);
        format!(
            "w{}-h{}-{fit}.{}",
            side(self.width),
            side(self.height),
            format.name()
        )
    }
}

/// Why a rendition cannot be made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// The source format is not decoded (GIF).
    Unsupported(String),
    /// The source is larger than the decoding limits.
    TooLarge(String),
    /// The source does not decode.
    Malformed(String),
    /// Encoding failed.
    Encode(String),
}

/// A rendition made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    /// The encoded image.
    pub bytes: Vec<u8>,
    /// Its media type.
    pub media_type: &'static str,
    /// Its width.
    pub width: u32,
    /// Its height.
    pub height: u32,
}

fn image_format(kind: ImageKind) -> ImageFormat {
    match kind {
        ImageKind::Png => ImageFormat::Png,
        ImageKind::Jpeg => ImageFormat::Jpeg,
        ImageKind::Gif => ImageFormat::Gif,
        ImageKind::Webp => ImageFormat::WebP,
    }
}

fn limits() -> Limits {
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_SOURCE_SIDE);
    limits.max_image_height = Some(MAX_SOURCE_SIDE);
    limits.max_alloc = Some(MAX_DECODE_BYTES);
    limits
}

/// The width and height in the header of an image of format `kind`, read
/// without decoding the pixels; `None` when the header does not parse.
pub fn dimensions(bytes: &[u8], kind: ImageKind) -> Option<(u32, u32)> {
    if kind == ImageKind::Gif {
        return crate::media::gif_dimensions(bytes);
    }
    ImageReader::with_format(Cursor::new(bytes), image_format(kind))
        .into_dimensions()
        .ok()
}

fn failure(error: ImageError) -> Failure {
    match error {
        ImageError::Limits(error) => Failure::TooLarge(format!(
            "the image is too large to decode within the plugin's limits: {error}"
        )),
        ImageError::Unsupported(error) => Failure::Unsupported(error.to_string()),
        other => Failure::Malformed(format!("the image does not decode: {other}")),
    }
}

fn scaled(side: u32, scale: f64) -> u32 {
    ((f64::from(side) * scale).round() as u32).max(1)
}

/// The size the image is resized to and the crop box (x, y, w, h) applied
/// after, for a `width`×`height` source. Never enlarges.
pub fn geometry(spec: &Spec, width: u32, height: u32) -> ((u32, u32), (u32, u32, u32, u32)) {
    let (w, h) = (f64::from(width), f64::from(height));
    let whole = |size: (u32, u32)| (size, (0, 0, size.0, size.1));
    match (spec.width, spec.height) {
        (None, None) => whole((width, height)),
        (Some(box_w), None) => {
            let scale = (f64::from(box_w) / w).min(1.0);
            whole((scaled(width, scale), scaled(height, scale)))
        }
        (None, Some(box_h)) => {
            let scale = (f64::from(box_h) / h).min(1.0);
            whole((scaled(width, scale), scaled(height, scale)))
        }
        (Some(box_w), Some(box_h)) if spec.fit == Fit::Contain => {
            let scale = (f64::from(box_w) / w).min(f64::from(box_h) / h).min(1.0);
            whole((scaled(width, scale), scaled(height, scale)))
        }
        (Some(box_w), Some(box_h)) => {
            let scale = (f64::from(box_w) / w).max(f64::from(box_h) / h);
            let (resized, crop) = if scale <= 1.0 {
                (
                    (scaled(width, scale), scaled(height, scale)),
                    (box_w, box_h),
                )
            } else {
                // Too small to fill the box: the largest box-shaped part of
                // the original, not enlarged.
                let shrink = (w / f64::from(box_w)).min(h / f64::from(box_h));
                (
                    (width, height),
                    (scaled(box_w, shrink), scaled(box_h, shrink)),
                )
            };
            let crop_w = crop.0.min(resized.0);
            let crop_h = crop.1.min(resized.1);
            (
                resized,
                (
                    (resized.0 - crop_w) / 2,
                    (resized.1 - crop_h) / 2,
                    crop_w,
                    crop_h,
                ),
            )
        }
    }
}

/// Decodes `bytes` (an image of format `kind`) within the decoding limits,
/// resizes it as `spec` asks and encodes it.
pub fn render(bytes: &[u8], kind: ImageKind, spec: &Spec) -> Result<Rendered, Failure> {
    let source = Format::of(kind).ok_or_else(|| {
        Failure::Unsupported(format!(
            "renditions of {} images are not supported; PNG, JPEG and WebP are",
            kind.media_type()
        ))
    })?;
    let format = spec.format.unwrap_or(source);
    let mut reader = ImageReader::with_format(Cursor::new(bytes), image_format(kind));
    reader.limits(limits());
    let decoder = reader.into_decoder().map_err(failure)?;
    let (width, height) = decoder.dimensions();
    if decoder.total_bytes() > MAX_DECODE_BYTES {
        return Err(Failure::TooLarge(format!(
            "the image is {width}×{height}: decoding it needs {} bytes, more than the {MAX_DECODE_BYTES} allowed",
            decoder.total_bytes()
        )));
    }
    let image = DynamicImage::from_decoder(decoder).map_err(failure)?;
    let ((resize_w, resize_h), (x, y, crop_w, crop_h)) = geometry(spec, width, height);
    let mut image = if (resize_w, resize_h) == (width, height) {
        image
    } else {
        image.thumbnail_exact(resize_w, resize_h)
    };
    if (crop_w, crop_h) != (image.width(), image.height()) {
        image = image.crop_imm(x, y, crop_w, crop_h);
    }
    let image = match format {
        Format::Jpeg => DynamicImage::ImageRgb8(image.to_rgb8()),
        Format::Webp if image.color().has_alpha() => DynamicImage::ImageRgba8(image.to_rgba8()),
        Format::Webp => DynamicImage::ImageRgb8(image.to_rgb8()),
        Format::Png => image,
    };
    let mut out = Vec::new();
    let written = match format {
        Format::Png => image.write_with_encoder(PngEncoder::new(&mut out)),
        Format::Jpeg => {
            image.write_with_encoder(JpegEncoder::new_with_quality(&mut out, JPEG_QUALITY))
        }
        Format::Webp => image.write_with_encoder(WebPEncoder::new_lossless(&mut out)),
    };
    written.map_err(|error| Failure::Encode(format!("cannot encode the rendition: {error}")))?;
    Ok(Rendered {
        bytes: out,
        media_type: format.media_type(),
        width: image.width(),
        height: image.height(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(query: &[(&str, &str)]) -> Vec<(String, String)> {
        query
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn png(width: u32, height: u32) -> Vec<u8> {
        let image = image::RgbaImage::from_fn(width, height, |x, y| {
            image::Rgba([(x % 256) as u8, (y % 256) as u8, 128, 255])
        });
        let mut out = Vec::new();
        DynamicImage::ImageRgba8(image)
            .write_with_encoder(PngEncoder::new(&mut out))
            .unwrap();
        out
    }

    #[test]
    fn parameters_are_checked() {
        assert_eq!(spec(&[]).unwrap(), None);
        let asked = spec(&pairs(&[("w", "320"), ("format", "webp")]))
            .unwrap()
            .unwrap();
        assert_eq!(asked.width, Some(320));
        assert_eq!(asked.format, Some(Format::Webp));
        assert_eq!(asked.key(ImageKind::Png), "w320-hauto-contain.webp");
        assert!(spec(&pairs(&[("w", "0")])).unwrap_err().contains("`w`"));
        assert!(spec(&pairs(&[("h", "5000")])).unwrap_err().contains("`h`"));
        assert!(spec(&pairs(&[("fit", "fill")])).is_err());
        assert!(spec(&pairs(&[("format", "bmp")])).is_err());
        assert!(spec(&pairs(&[("colour", "red")])).is_err());
    }

    #[test]
    fn geometry_keeps_the_aspect_ratio_and_never_enlarges() {
        let ask = |w, h, fit| Spec {
            width: w,
            height: h,
            fit,
            format: None,
        };
        assert_eq!(
            geometry(&ask(Some(100), None, Fit::Contain), 400, 200).0,
            (100, 50)
        );
        assert_eq!(
            geometry(&ask(None, Some(50), Fit::Contain), 400, 200).0,
            (100, 50)
        );
        assert_eq!(
            geometry(&ask(Some(100), Some(100), Fit::Contain), 400, 200).0,
            (100, 50)
        );
        assert_eq!(
            geometry(&ask(Some(100), Some(100), Fit::Cover), 400, 200),
            ((200, 100), (50, 0, 100, 100))
        );
        assert_eq!(
            geometry(&ask(Some(1000), None, Fit::Contain), 400, 200).0,
            (400, 200)
        );
        // A box larger than the image: the largest square part, not enlarged.
        assert_eq!(
            geometry(&ask(Some(1000), Some(1000), Fit::Cover), 400, 200),
            ((400, 200), (100, 0, 200, 200))
        );
    }

    #[test]
    fn renditions_are_resized_and_re_encoded() {
        let source = png(64, 32);
        assert_eq!(dimensions(&source, ImageKind::Png), Some((64, 32)));
        let small = render(
            &source,
            ImageKind::Png,
            &spec(&pairs(&[("w", "16")])).unwrap().unwrap(),
        )
        .unwrap();
        assert_eq!((small.width, small.height), (16, 8));
        let decoded = image::load_from_memory(&small.bytes).unwrap();
        assert_eq!((decoded.width(), decoded.height()), (16, 8));
        let jpeg = render(
            &source,
            ImageKind::Png,
            &spec(&pairs(&[
                ("w", "10"),
                ("h", "10"),
                ("fit", "cover"),
                ("format", "jpeg"),
            ]))
            .unwrap()
            .unwrap(),
        )
        .unwrap();
        assert_eq!(jpeg.media_type, "image/jpeg");
        let decoded = image::load_from_memory(&jpeg.bytes).unwrap();
        assert_eq!((decoded.width(), decoded.height()), (10, 10));
        let webp = render(
            &source,
            ImageKind::Png,
            &spec(&pairs(&[("format", "webp")])).unwrap().unwrap(),
        )
        .unwrap();
        assert_eq!((webp.width, webp.height), (64, 32));
        assert!(webp.bytes.starts_with(b"RIFF"));
    }

    #[test]
    fn broken_and_huge_images_are_refused() {
        let mut broken = png(64, 32);
        broken.truncate(60);
        let any = spec(&pairs(&[("w", "8")])).unwrap().unwrap();
        assert!(matches!(
            render(&broken, ImageKind::Png, &any),
            Err(Failure::Malformed(_))
        ));
        // A PNG header claiming 16384×16384 pixels: refused before decoding.
        let mut bomb = png(1, 1);
        bomb.splice(16..24, [0, 0, 0x40, 0, 0, 0, 0x40, 0]);
        let crc = crc32fast::hash(&bomb[12..29]).to_be_bytes();
        bomb.splice(29..33, crc);
        assert_eq!(dimensions(&bomb, ImageKind::Png), Some((16_384, 16_384)));
        assert!(matches!(
            render(&bomb, ImageKind::Png, &any),
            Err(Failure::TooLarge(_))
        ));
        assert!(matches!(
            render(b"GIF89a\x01\x00\x01\x00", ImageKind::Gif, &any),
            Err(Failure::Unsupported(_))
        ));
    }
}
