//! The reproducible zip: one entry, `bootstrap`, mode 0755, a fixed timestamp.

use super::*;

/// The `bootstrap` executable named in cargo's JSON messages (`compiler-artifact`).
pub fn executable(messages: &str) -> Option<PathBuf> {
    messages
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|m| m["reason"] == "compiler-artifact" && m["target"]["name"] == "bootstrap")
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
