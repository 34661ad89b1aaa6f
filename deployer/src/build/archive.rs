//! The reproducible zip: one entry, `bootstrap`, mode 0755, a fixed timestamp; and the
//! authorizer's bundle: its `bootstrap` with the stack's configuration and policies.

use super::*;

/// The executable `bin` named in cargo's JSON messages (`compiler-artifact`).
pub fn executable(messages: &str, bin: &str) -> Option<PathBuf> {
    messages
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|m| m["reason"] == "compiler-artifact" && m["target"]["name"] == bin)
        .filter_map(|m| m["executable"].as_str().map(PathBuf::from))
        .next_back()
}

/// A zip holding `bootstrap` at the root, mode 0755, fixed timestamp: same binary, same bytes.
pub fn zip_bootstrap(binary: &[u8]) -> std::io::Result<Vec<u8>> {
    use zip::write::SimpleFileOptions;
    let mut out = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .compression_level(Some(9))
        .unix_permissions(0o755)
        .last_modified_time(zip::DateTime::default());
    out.start_file("bootstrap", options)
        .map_err(std::io::Error::other)?;
    out.write_all(binary)?;
    Ok(out.finish().map_err(std::io::Error::other)?.into_inner())
}

/// `zip` (a function's zip, holding `bootstrap`) with `files` added (path in the zip, bytes),
/// read-only, fixed timestamps, in the order given: same inputs, same bytes.
pub fn zip_bundle(zip: &[u8], files: &[(String, Vec<u8>)]) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    use zip::write::SimpleFileOptions;
    let mut archive =
        zip::ZipArchive::new(std::io::Cursor::new(zip)).map_err(std::io::Error::other)?;
    let mut binary = Vec::new();
    archive
        .by_name("bootstrap")
        .map_err(std::io::Error::other)?
        .read_to_end(&mut binary)?;
    let mut out = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .compression_level(Some(9))
        .last_modified_time(zip::DateTime::default());
    out.start_file("bootstrap", options.unix_permissions(0o755))
        .map_err(std::io::Error::other)?;
    out.write_all(&binary)?;
    for (name, bytes) in files {
        out.start_file(name.as_str(), options.unix_permissions(0o444))
            .map_err(std::io::Error::other)?;
        out.write_all(bytes)?;
    }
    Ok(out.finish().map_err(std::io::Error::other)?.into_inner())
}
