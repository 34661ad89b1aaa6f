//! This machine's cache of trigger zips, keyed by source key: checked against its digest on
//! every use, written aside and renamed, the least recently used pruned.

use super::*;

pub(super) fn cache_dir(paths: &Paths) -> PathBuf {
    paths.cache.join("artifacts")
}

pub(super) fn cached_zip(paths: &Paths, function: &Function, key: &str) -> PathBuf {
    cache_dir(paths).join(format!("{}-{}.zip", function.name, &key[..16]))
}

/// How many zips of each function (2-3 MB each) this machine's cache keeps: the most recently used, so
/// that going back and forth between a few branches never rebuilds, and months of edits to
/// the trigger do not fill the disk.
pub const CACHE_KEEP: usize = 8;

/// Marks a cached zip as just used: the cap removes the ones unused longest first.
pub(super) fn touch(zip: &Path) {
    if let Ok(file) = std::fs::File::open(zip) {
        file.set_modified(std::time::SystemTime::now()).ok();
    }
}

/// Removes all but the `CACHE_KEEP` most recently used zips of `dir` (and their digests);
/// `keep`, the zip just stored, stays whatever its time. Best effort: a zip that another run
/// removed first is not an error, and each zip goes before its digest, so a lookup never
/// finds a digest without its zip.
pub(super) fn prune(dir: &Path, function: &Function, keep: &Path) {
    let prefix = format!("{}-", function.name);
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut zips: Vec<(std::time::SystemTime, PathBuf)> = entries
        .filter_map(|entry| {
            let path = entry.ok()?.path();
            let name = path.file_name()?.to_str()?;
            if !name.starts_with(&prefix) || !name.ends_with(".zip") || path == keep {
                return None;
            }
            Some((path.metadata().ok()?.modified().ok()?, path))
        })
        .collect();
    zips.sort_by_key(|z| std::cmp::Reverse(z.0));
    for (_, old) in zips.into_iter().skip(CACHE_KEEP.saturating_sub(1)) {
        if std::fs::remove_file(&old).is_ok() {
            tracing::debug!(zip = %old.display(), "removed from the build cache (least recently used)");
        }
        std::fs::remove_file(old.with_extension("zip.sha256")).ok();
    }
}

/// The zip for `key` in this machine's cache, if there. Its bytes are hashed every time
/// (about 10 ms): the digest recorded beside it is what the zip was when stored, and a zip
/// that no longer matches it (changed by hand, another program, a bad disk) is removed and
/// not used.
pub fn cached(
    paths: &Paths,
    target: &BuildTarget,
    key: &str,
) -> Result<Option<Artifact>, BuildError> {
    cached_of(paths, &TRIGGER, target, key)
}

/// `cached`, for any of the functions.
pub fn cached_of(
    paths: &Paths,
    function: &Function,
    target: &BuildTarget,
    key: &str,
) -> Result<Option<Artifact>, BuildError> {
    let zip = cached_zip(paths, function, key);
    let Ok(bytes) = std::fs::read(&zip) else {
        return Ok(None);
    };
    let sha256 = hex::encode(Sha256::digest(&bytes));
    let digest_file = zip.with_extension("zip.sha256");
    let recorded = std::fs::read_to_string(&digest_file).unwrap_or_default();
    if recorded.trim() != sha256 {
        tracing::warn!(
            zip = %zip.display(),
            recorded = recorded.trim(),
            actual = %sha256,
            "the cached zip is not the one stored: removed, not used"
        );
        std::fs::remove_file(&zip).ok();
        std::fs::remove_file(&digest_file).ok();
        return Ok(None);
    }
    touch(&zip);
    Ok(Some(Artifact {
        size: bytes.len() as u64,
        sha256,
        path: zip,
        target: target.clone(),
        source_key: key.to_owned(),
        origin: Origin::LocalCache,
    }))
}

/// Puts a zip into this machine's cache under `key`: written aside, renamed last, so an
/// interrupted write never leaves a zip that looks complete.
pub fn store(
    paths: &Paths,
    target: &BuildTarget,
    key: &str,
    zip: &[u8],
    origin: Origin,
) -> Result<Artifact, BuildError> {
    store_of(paths, &TRIGGER, target, key, zip, origin)
}

/// `store`, for any of the functions.
pub fn store_of(
    paths: &Paths,
    function: &Function,
    target: &BuildTarget,
    key: &str,
    zip: &[u8],
    origin: Origin,
) -> Result<Artifact, BuildError> {
    let dir = cache_dir(paths);
    std::fs::create_dir_all(&dir).map_err(io(format!("creating {}", dir.display())))?;
    let cached = cached_zip(paths, function, key);
    let partial = cached.with_extension(format!("zip.{}.partial", std::process::id()));
    std::fs::write(&partial, zip).map_err(io(format!("writing {}", partial.display())))?;
    let sha256 = hex::encode(Sha256::digest(zip));
    let digest_file = cached.with_extension("zip.sha256");
    std::fs::write(&digest_file, &sha256)
        .map_err(io(format!("writing {}", digest_file.display())))?;
    std::fs::rename(&partial, &cached).map_err(io(format!("writing {}", cached.display())))?;
    prune(&dir, function, &cached);
    Ok(Artifact {
        size: zip.len() as u64,
        sha256,
        path: cached,
        target: target.clone(),
        source_key: key.to_owned(),
        origin,
    })
}

/// Puts the publisher's signed zip for `key` into this machine's cache (beside the unsigned
/// one, which the stack's code signing would refuse). Written aside and renamed, as `store`.
pub fn store_signed(
    paths: &Paths,
    target: &BuildTarget,
    key: &str,
    zip: &[u8],
) -> Result<Artifact, BuildError> {
    let dir = cache_dir(paths);
    std::fs::create_dir_all(&dir).map_err(io(format!("creating {}", dir.display())))?;
    let signed = dir.join(format!("trigger-{}.signed.zip", &key[..16]));
    let partial = signed.with_extension(format!("zip.{}.partial", std::process::id()));
    std::fs::write(&partial, zip).map_err(io(format!("writing {}", partial.display())))?;
    std::fs::rename(&partial, &signed).map_err(io(format!("writing {}", signed.display())))?;
    Ok(Artifact {
        size: zip.len() as u64,
        sha256: hex::encode(Sha256::digest(zip)),
        path: signed,
        target: target.clone(),
        source_key: key.to_owned(),
        origin: Origin::SharedCache,
    })
}
