//! The container: a gzip-compressed POSIX (ustar) tar archive of regular
//! files, written deterministically (fixed order, mode 0644, owner 0,
//! mtime 0, gzip without name or time) and read defensively (every size
//! checked against its limit before it is read, no links, no extensions, no
//! duplicates, nothing before or after the archive).

use std::collections::HashSet;
use std::io::{self, Read};

use flate2::{Compression, GzBuilder};

use super::entry::EntryKind;
use super::error::PackageError;
use super::limits;

/// One entry as stored.
#[derive(Debug, Clone)]
pub struct RawEntry {
    /// Its path inside the archive.
    pub name: String,
    /// What the name designates.
    pub kind: EntryKind,
    /// Its bytes.
    pub data: Vec<u8>,
}

/// The gzip magic number.
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];
/// The operating system byte of the gzip header: "unknown", the same on
/// every platform.
const GZIP_OS_UNKNOWN: u8 = 255;
/// Where a tar header keeps its format magic, and the magic of the POSIX
/// (`ustar\0`) and GNU (`ustar `) formats.
const USTAR_MAGIC_AT: std::ops::Range<usize> = 257..262;
const USTAR_MAGIC: &[u8] = b"ustar";

/// Write `entries`, in the given order, as a `.tpkg` byte stream.
pub fn write(entries: &[(&str, &[u8])]) -> io::Result<Vec<u8>> {
    let encoder = GzBuilder::new()
        .mtime(0)
        .operating_system(GZIP_OS_UNKNOWN)
        .write(Vec::new(), Compression::default());
    let mut builder = tar::Builder::new(encoder);
    for (name, data) in entries {
        let mut header = tar::Header::new_ustar();
        header.set_path(name)?;
        header.set_entry_type(tar::EntryType::Regular);
        header.set_mode(0o644);
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(0);
        header.set_size(u64::try_from(data.len()).unwrap_or(u64::MAX));
        header.set_cksum();
        builder.append(&header, *data)?;
    }
    builder.into_inner()?.finish()
}

/// Read every entry of a `.tpkg` byte stream.
pub fn read(bytes: &[u8]) -> Result<Vec<RawEntry>, PackageError> {
    if bytes.is_empty() {
        return Err(PackageError::NotAPackage {
            reason: "the file is empty".into(),
        });
    }
    if !bytes.starts_with(&GZIP_MAGIC) {
        return Err(PackageError::NotAPackage {
            reason: "it is not gzip-compressed".into(),
        });
    }
    let archive = inflate(bytes)?;
    if archive
        .get(USTAR_MAGIC_AT)
        .is_none_or(|magic| magic != USTAR_MAGIC)
    {
        return Err(PackageError::NotAPackage {
            reason: "it is gzip-compressed but holds no tar archive".into(),
        });
    }
    let mut reader = tar::Archive::new(archive.as_slice());
    let entries = read_entries(&mut reader)?;
    // After the end-of-archive block only zero padding may follow.
    if reader.into_inner().iter().any(|byte| *byte != 0) {
        return Err(PackageError::Damaged {
            reason: "there is data after the end of the archive".into(),
        });
    }
    Ok(entries)
}

/// Decompress the whole stream, at most [`limits::MAX_UNPACKED`] bytes of
/// it, checking the gzip checksum and that nothing follows the stream.
fn inflate(bytes: &[u8]) -> Result<Vec<u8>, PackageError> {
    let mut decoder = flate2::bufread::GzDecoder::new(bytes);
    let mut archive = Vec::new();
    (&mut decoder)
        .take(limits::MAX_UNPACKED.saturating_add(1))
        .read_to_end(&mut archive)
        .map_err(|error| PackageError::Damaged {
            reason: if error.kind() == io::ErrorKind::UnexpectedEof {
                "it ends too early".into()
            } else {
                error.to_string()
            },
        })?;
    if u64::try_from(archive.len()).unwrap_or(u64::MAX) > limits::MAX_UNPACKED {
        return Err(PackageError::TooLarge {
            entry: "the unpacked archive".into(),
            limit: limits::MAX_UNPACKED,
        });
    }
    if !decoder.into_inner().is_empty() {
        return Err(PackageError::Damaged {
            reason: "there is data after the end of the compressed stream".into(),
        });
    }
    Ok(archive)
}

fn read_entries(archive: &mut tar::Archive<&[u8]>) -> Result<Vec<RawEntry>, PackageError> {
    let damaged = |error: io::Error| PackageError::Damaged {
        reason: error.to_string(),
    };
    let mut entries = Vec::new();
    let mut names = HashSet::new();
    for entry in archive.entries().map_err(damaged)?.raw(true) {
        let mut entry = entry.map_err(damaged)?;
        let name = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        let entry_type = entry.header().entry_type();
        if !entry_type.is_file() {
            return Err(PackageError::NotAFile {
                entry: name,
                found: describe(entry_type),
            });
        }
        if std::str::from_utf8(&entry.path_bytes()).is_err() {
            return Err(PackageError::UnsafePath { entry: name });
        }
        let kind = EntryKind::classify(&name)?;
        if !names.insert(name.clone()) {
            return Err(PackageError::DuplicateEntry { entry: name });
        }
        let size = entry.size();
        if size > kind.limit() {
            return Err(PackageError::TooLarge {
                entry: format!("entry `{name}`"),
                limit: kind.limit(),
            });
        }
        let mut data = Vec::new();
        (&mut entry)
            .take(kind.limit())
            .read_to_end(&mut data)
            .map_err(damaged)?;
        if u64::try_from(data.len()).unwrap_or(u64::MAX) != size {
            return Err(PackageError::Damaged {
                reason: format!("entry `{name}` is truncated"),
            });
        }
        entries.push(RawEntry { name, kind, data });
    }
    Ok(entries)
}

fn describe(entry_type: tar::EntryType) -> String {
    match entry_type {
        tar::EntryType::Directory => "directory".into(),
        tar::EntryType::Symlink => "symbolic link".into(),
        tar::EntryType::Link => "hard link".into(),
        tar::EntryType::Char | tar::EntryType::Block => "device".into(),
        tar::EntryType::Fifo => "named pipe".into(),
        tar::EntryType::XHeader | tar::EntryType::XGlobalHeader => "pax extension header".into(),
        tar::EntryType::GNULongName | tar::EntryType::GNULongLink => {
            "GNU long-name extension".into()
        }
        tar::EntryType::GNUSparse => "sparse file".into(),
        other => format!("tar entry of type {:?}", other.as_byte() as char),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        use std::io::Write;
        let mut encoder = GzBuilder::new().write(Vec::new(), Compression::fast());
        encoder.write_all(bytes).unwrap();
        encoder.finish().unwrap()
    }

    fn tar_with(mut header: tar::Header, data: &[u8]) -> Vec<u8> {
        header.set_size(data.len() as u64);
        header.set_cksum();
        let mut builder = tar::Builder::new(Vec::new());
        builder.append(&header, data).unwrap();
        builder.into_inner().unwrap()
    }

    fn regular(name: &[u8]) -> tar::Header {
        let mut header = tar::Header::new_ustar();
        header.as_mut_bytes()[..name.len()].copy_from_slice(name);
        header.set_entry_type(tar::EntryType::Regular);
        header.set_mode(0o644);
        header
    }

    #[test]
    fn entries_round_trip_in_order_and_identically() {
        let entries: [(&str, &[u8]); 2] = [("plugin.toml", b"x = 1\n"), ("plugin.wasm", b"\0asm")];
        let bytes = write(&entries).unwrap();
        assert_eq!(bytes, write(&entries).unwrap(), "deterministic");
        let read = read(&bytes).unwrap();
        assert_eq!(read.len(), 2);
        assert_eq!(read[0].name, "plugin.toml");
        assert_eq!(read[1].data, b"\0asm");
    }

    #[test]
    fn traversal_in_a_real_archive_is_refused() {
        let bytes = gzip(&tar_with(regular(b"../../etc/cron.d/x"), b"boom"));
        assert!(matches!(read(&bytes), Err(PackageError::UnsafePath { .. })));
    }

    #[test]
    fn symlinks_and_directories_are_refused() {
        let mut header = regular(b"plugin.wasm");
        header.set_entry_type(tar::EntryType::Symlink);
        let bytes = gzip(&tar_with(header, b""));
        let error = read(&bytes).unwrap_err();
        assert!(error.to_string().contains("symbolic link"), "{error}");
        let mut header = regular(b"native/");
        header.set_entry_type(tar::EntryType::Directory);
        assert!(matches!(
            read(&gzip(&tar_with(header, b""))),
            Err(PackageError::NotAFile { .. })
        ));
    }

    #[test]
    fn duplicates_are_refused() {
        let bytes = write(&[("plugin.toml", b"a"), ("plugin.toml", b"b")]).unwrap();
        assert!(matches!(
            read(&bytes),
            Err(PackageError::DuplicateEntry { entry }) if entry == "plugin.toml"
        ));
    }

    #[test]
    fn oversized_entries_are_refused_before_being_read() {
        let big = vec![b'#'; (limits::MAX_MANIFEST + 1) as usize];
        let bytes = write(&[("plugin.toml", &big)]).unwrap();
        assert!(matches!(
            read(&bytes),
            Err(PackageError::TooLarge { entry, .. }) if entry.contains("plugin.toml")
        ));
    }

    #[test]
    fn a_decompression_bomb_stops_at_the_unpacked_limit() {
        // 70 MiB of zeros compress to ~70 KiB: a header claiming a huge
        // payload must not make the reader inflate past its limit.
        let mut header = regular(b"plugin.wasm");
        header.set_size(limits::MAX_PAYLOAD);
        header.set_cksum();
        let mut tar = header.as_bytes().to_vec();
        tar.resize(tar.len() + (70 << 20), 0);
        let error = read(&gzip(&tar)).unwrap_err();
        assert!(
            matches!(
                error,
                PackageError::TooLarge { .. } | PackageError::Damaged { .. }
            ),
            "{error}"
        );
    }

    #[test]
    fn non_packages_and_trailing_data_are_refused() {
        assert!(matches!(read(b""), Err(PackageError::NotAPackage { .. })));
        assert!(matches!(
            read(b"PK\x03\x04"),
            Err(PackageError::NotAPackage { .. })
        ));
        assert!(matches!(
            read(&gzip(b"just some text, not a tar archive at all........")),
            Err(PackageError::NotAPackage { .. })
        ));
        let mut bytes = write(&[("plugin.toml", b"a")]).unwrap();
        bytes.extend_from_slice(b"junk");
        let error = read(&bytes).unwrap_err();
        assert!(error.to_string().contains("after the end"), "{error}");
        let mut tar = tar_with(regular(b"plugin.toml"), b"a");
        tar.extend_from_slice(b"hidden");
        let error = read(&gzip(&tar)).unwrap_err();
        assert!(
            error.to_string().contains("after the end of the archive"),
            "{error}"
        );
    }

    #[test]
    fn truncated_and_flipped_streams_are_damaged() {
        let bytes = write(&[("plugin.toml", &[7u8; 4096][..])]).unwrap();
        let truncated = &bytes[..bytes.len() - 10];
        assert!(matches!(read(truncated), Err(PackageError::Damaged { .. })));
        let mut flipped = bytes.clone();
        let middle = flipped.len() / 2;
        flipped[middle] ^= 0x01;
        let error = read(&flipped).unwrap_err();
        assert!(error.is_tampering(), "{error:?}");
    }
}
