//! Asset bytes in the plugin's storage: stored once per site and SHA-256
//! (deduplicated), split into chunks so that a range request reads only
//! the chunks it needs, with their cached renditions. Keys under
//! `site/{site}/`:
//!
//! | key | value |
//! |---|---|
//! | `blobs/{sha256}` | the [`Blob`]: size, generation, image facts and the assets using it |
//! | `blob-data/{sha256}/{generation}/chunks/{n:06}` | bytes `n × 256 KiB ..` of the blob |
//! | `blob-data/{sha256}/{generation}/renditions/{key}` | a [`Stored`] rendition's record |
//! | `blob-data/{sha256}/{generation}/rendition-chunks/{key}/{n:06}` | its bytes |
//!
//! The generation is the id of the asset whose upload first stored the
//! bytes. The chunks are written before the record is created with a
//! compare-and-swap, so a record always names complete chunks; a later
//! upload of the same bytes only adds its asset id to the record. Removing
//! the last asset deletes the record (compare-and-swap), then every key of
//! its generation; an upload racing that deletion writes a new generation,
//! so it never loses chunks to it.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tessera_sdk::Error;
use tessera_sdk::storage::{self, CasOutcome, Operation};

/// Bytes per chunk.
pub const CHUNK: usize = 256 << 10;
/// Chunks written per storage batch.
const CHUNKS_PER_BATCH: usize = 4;
/// How often a blob update retries after losing a race.
const ATTEMPTS: usize = 16;

/// The stored facts about one blob.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Blob {
    /// Its SHA-256, hex.
    pub sha256: String,
    /// Its size in bytes.
    pub size: u64,
    /// The generation its chunks are stored under.
    pub generation: String,
    /// The ids of the assets using it.
    pub assets: Vec<String>,
}

/// A rendition as cached.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stored {
    /// Its media type.
    pub media_type: String,
    /// Its size in bytes.
    pub size: u64,
    /// Its width.
    pub width: u32,
    /// Its height.
    pub height: u32,
}

/// The SHA-256 of `bytes`, lower-case hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn blob_key(site: &str, sha: &str) -> String {
    format!("site/{site}/blobs/{sha}")
}

fn data_prefix(site: &str, blob: &Blob) -> String {
    format!("site/{site}/blob-data/{}/{}/", blob.sha256, blob.generation)
}

fn chunk_prefix(site: &str, blob: &Blob) -> String {
    format!("{}chunks/", data_prefix(site, blob))
}

fn rendition_key(site: &str, blob: &Blob, key: &str) -> String {
    format!("{}renditions/{key}", data_prefix(site, blob))
}

fn rendition_chunk_prefix(site: &str, blob: &Blob, key: &str) -> String {
    format!("{}rendition-chunks/{key}/", data_prefix(site, blob))
}

fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, Error> {
    serde_json::to_vec(value)
        .map_err(|error| Error::internal(format!("cannot serialise a blob record: {error}")))
}

fn decode<T: for<'de> Deserialize<'de>>(key: &str, bytes: &[u8]) -> Result<T, Error> {
    serde_json::from_slice(bytes)
        .map_err(|error| Error::internal(format!("the value under `{key}` is unreadable: {error}")))
}

/// The blob with `sha`, if stored.
pub fn get(site: &str, sha: &str) -> Result<Option<Blob>, Error> {
    let key = blob_key(site, sha);
    storage::get(&key)?
        .map(|bytes| decode(&key, &bytes))
        .transpose()
}

/// Writes `bytes` in chunks under `prefix`.
fn write_chunks(prefix: &str, bytes: &[u8]) -> Result<(), Error> {
    let chunks: Vec<&[u8]> = bytes.chunks(CHUNK).collect();
    for (group, batch) in chunks.chunks(CHUNKS_PER_BATCH).enumerate() {
        let operations: Vec<Operation> = batch
            .iter()
            .enumerate()
            .map(|(offset, chunk)| {
                let n = group * CHUNKS_PER_BATCH + offset;
                Operation::set(format!("{prefix}{n:06}"), chunk.to_vec())
            })
            .collect();
        storage::batch(&operations)?;
    }
    Ok(())
}

/// Deletes every key under `prefix`.
fn delete_prefix(prefix: &str) -> Result<(), Error> {
    let keys: Vec<String> = storage::scan(prefix)
        .map(|item| item.map(|(key, _)| key))
        .collect::<Result<_, _>>()?;
    for chunk in keys.chunks(1000) {
        let operations: Vec<Operation> = chunk.iter().cloned().map(Operation::delete).collect();
        storage::batch(&operations)?;
    }
    Ok(())
}

/// Reads bytes `start..=end` of the `size` bytes chunked under `prefix`.
fn read_chunks(prefix: &str, size: u64, start: u64, end: u64) -> Result<Vec<u8>, Error> {
    let chunk = CHUNK as u64;
    let end = end.min(size.saturating_sub(1));
    let mut out = Vec::with_capacity(usize::try_from(end.saturating_sub(start) + 1).unwrap_or(0));
    if start > end {
        return Ok(out);
    }
    for n in start / chunk..=end / chunk {
        let key = format!("{prefix}{n:06}");
        let bytes = storage::get(&key)?
            .ok_or_else(|| Error::internal(format!("the stored chunk `{key}` is missing")))?;
        let base = n * chunk;
        let from = usize::try_from(start.saturating_sub(base)).unwrap_or(usize::MAX);
        let to = usize::try_from((end - base + 1).min(chunk)).unwrap_or(usize::MAX);
        let part = bytes.get(from..to.min(bytes.len())).ok_or_else(|| {
            Error::internal(format!("the stored chunk `{key}` is shorter than expected"))
        })?;
        out.extend_from_slice(part);
    }
    Ok(out)
}

/// Records that the asset `asset` holds `bytes` (whose SHA-256 is `sha`):
/// stores them unless the site already has them. Returns the blob and
/// whether the bytes were already stored.
pub fn attach(site: &str, sha: &str, bytes: &[u8], asset: &str) -> Result<(Blob, bool), Error> {
    let key = blob_key(site, sha);
    let mut written: Option<Blob> = None;
    for _ in 0..ATTEMPTS {
        match storage::get(&key)? {
            Some(raw) => {
                let mut blob: Blob = decode(&key, &raw)?;
                if !blob.assets.iter().any(|id| id == asset) {
                    blob.assets.push(asset.to_owned());
                }
                let new = encode(&blob)?;
                if let CasOutcome::Swapped =
                    storage::compare_and_swap(&key, Some(&raw), Some(&new))?
                {
                    if let Some(mine) = &written {
                        // Someone stored the same bytes meanwhile: ours go.
                        delete_prefix(&data_prefix(site, mine))?;
                    }
                    return Ok((blob, true));
                }
            }
            None => {
                let blob = match &written {
                    Some(blob) => blob.clone(),
                    None => {
                        let blob = Blob {
                            sha256: sha.to_owned(),
                            size: bytes.len() as u64,
                            generation: asset.to_owned(),
                            assets: vec![asset.to_owned()],
                        };
                        write_chunks(&chunk_prefix(site, &blob), bytes)?;
                        written = Some(blob.clone());
                        blob
                    }
                };
                if let CasOutcome::Swapped =
                    storage::compare_and_swap(&key, None, Some(&encode(&blob)?))?
                {
                    return Ok((blob, false));
                }
            }
        }
    }
    if let Some(mine) = &written {
        delete_prefix(&data_prefix(site, mine))?;
    }
    Err(Error::conflict(format!(
        "the blob {sha} kept changing: try again"
    )))
}

/// Records that the asset `asset` no longer holds the blob `sha`; the
/// last asset to go deletes the blob with its chunks and renditions.
/// Returns whether the blob was deleted.
pub fn detach(site: &str, sha: &str, asset: &str) -> Result<bool, Error> {
    let key = blob_key(site, sha);
    for _ in 0..ATTEMPTS {
        let Some(raw) = storage::get(&key)? else {
            return Ok(false);
        };
        let mut blob: Blob = decode(&key, &raw)?;
        blob.assets.retain(|id| id != asset);
        let new = if blob.assets.is_empty() {
            None
        } else {
            Some(encode(&blob)?)
        };
        if let CasOutcome::Swapped = storage::compare_and_swap(&key, Some(&raw), new.as_deref())? {
            if new.is_none() {
                delete_prefix(&data_prefix(site, &blob))?;
                return Ok(true);
            }
            return Ok(false);
        }
    }
    Err(Error::conflict(format!(
        "the blob {sha} kept changing: try again"
    )))
}

/// Bytes `start..=end` of `blob`.
pub fn read(site: &str, blob: &Blob, start: u64, end: u64) -> Result<Vec<u8>, Error> {
    read_chunks(&chunk_prefix(site, blob), blob.size, start, end)
}

/// The cached rendition `key` of `blob`, if any.
pub fn rendition(site: &str, blob: &Blob, key: &str) -> Result<Option<Stored>, Error> {
    let record = rendition_key(site, blob, key);
    storage::get(&record)?
        .map(|bytes| decode(&record, &bytes))
        .transpose()
}

/// Bytes `start..=end` of the cached rendition `key` of `blob`.
pub fn read_rendition(
    site: &str,
    blob: &Blob,
    key: &str,
    stored: &Stored,
    start: u64,
    end: u64,
) -> Result<Vec<u8>, Error> {
    read_chunks(
        &rendition_chunk_prefix(site, blob, key),
        stored.size,
        start,
        end,
    )
}

/// Caches `bytes` as the rendition `key` of `blob`. Should the blob have
/// been deleted meanwhile, what was written is removed again.
pub fn store_rendition(
    site: &str,
    blob: &Blob,
    key: &str,
    stored: &Stored,
    bytes: &[u8],
) -> Result<(), Error> {
    write_chunks(&rendition_chunk_prefix(site, blob, key), bytes)?;
    storage::set(&rendition_key(site, blob, key), encode(stored)?)?;
    let still = get(site, &blob.sha256)?;
    if still.is_none_or(|current| current.generation != blob.generation) {
        storage::delete(&rendition_key(site, blob, key))?;
        delete_prefix(&rendition_chunk_prefix(site, blob, key))?;
    }
    Ok(())
}

/// How many storage keys the data of `blob` holds (chunks, renditions and
/// their chunks); for tests and diagnostics.
pub fn key_count(site: &str, sha: &str) -> Result<usize, Error> {
    let mut count = 0;
    for item in storage::scan(&format!("site/{site}/blob-data/{sha}/")) {
        item?;
        count += 1;
    }
    Ok(count)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sha256_is_hex() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
