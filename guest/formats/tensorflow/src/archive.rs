//! A SavedModel directory carried as one POSIX tar (ustar/pax/GNU) archive.
//!
//! The host sends model bytes as one blob; a SavedModel is a directory, so the blob is a tar of
//! it (`tar cf model.tar -C saved_model_dir .`, or [`write_tar`]). Reading borrows file contents
//! from the archive; headers are checksummed and every size is bounds-checked.

use alloc::collections::BTreeMap;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use crate::bundle::shard_file_name;
use crate::error::{Error, Result};
use crate::saved_model::SavedModelFiles;

const BLOCK: usize = 512;

/// True if `bytes` looks like a tar archive (ustar magic in the first header).
pub fn is_tar(bytes: &[u8]) -> bool {
    bytes.len() >= BLOCK && &bytes[257..262] == b"ustar"
}

fn octal(field: &[u8], what: &str) -> Result<u64> {
    if field.first().is_some_and(|b| b & 0x80 != 0) {
        return Err(Error::Archive(format!("base-256 {what} field")));
    }
    let mut value: u64 = 0;
    let mut seen = false;
    for &b in field {
        match b {
            b'0'..=b'7' => {
                seen = true;
                value = value
                    .checked_mul(8)
                    .and_then(|v| v.checked_add(u64::from(b - b'0')))
                    .ok_or_else(|| Error::Archive(format!("{what} overflows")))?;
            }
            b' ' if !seen => {}
            0 | b' ' => break,
            _ => return Err(Error::Archive(format!("bad octal digit in {what}"))),
        }
    }
    Ok(value)
}

fn c_string(field: &[u8]) -> &[u8] {
    let end = field.iter().position(|&b| b == 0).unwrap_or(field.len());
    &field[..end]
}

/// Every regular file of a tar archive: path (without a leading `./`) → contents.
pub fn read_tar(bytes: &[u8]) -> Result<BTreeMap<String, &[u8]>> {
    let mut files = BTreeMap::new();
    let mut pos = 0usize;
    let mut long_name: Option<Vec<u8>> = None;
    while pos + BLOCK <= bytes.len() {
        let header = &bytes[pos..pos + BLOCK];
        if header.iter().all(|&b| b == 0) {
            break;
        }
        let stored = octal(&header[148..156], "checksum")?;
        let computed: u64 = header
            .iter()
            .enumerate()
            .map(|(i, &b)| {
                if (148..156).contains(&i) {
                    32
                } else {
                    u64::from(b)
                }
            })
            .sum();
        if stored != computed {
            return Err(Error::Archive(format!(
                "header checksum mismatch at offset {pos}"
            )));
        }
        let size = usize::try_from(octal(&header[124..136], "size")?)
            .map_err(|_| Error::Archive("entry size out of range".into()))?;
        let data_start = pos + BLOCK;
        let data_end = data_start
            .checked_add(size)
            .filter(|&e| e <= bytes.len())
            .ok_or_else(|| Error::Archive(format!("entry at offset {pos} runs past the end")))?;
        let data = &bytes[data_start..data_end];
        let padded = size
            .checked_add(BLOCK - 1)
            .map(|s| s / BLOCK * BLOCK)
            .ok_or_else(|| Error::Archive("entry size overflows".into()))?;
        let next = data_start
            .checked_add(padded)
            .ok_or_else(|| Error::Archive("entry size overflows".into()))?;
        let kind = header[156];
        match kind {
            b'L' => long_name = Some(c_string(data).to_vec()),
            b'x' => {
                // PAX extended header: records "len key=value\n"; only `path` matters here.
                let mut rest = data;
                while !rest.is_empty() {
                    let space = rest
                        .iter()
                        .position(|&b| b == b' ')
                        .ok_or_else(|| Error::Archive("bad pax record".into()))?;
                    let len: usize = core::str::from_utf8(&rest[..space])
                        .ok()
                        .and_then(|s| s.parse().ok())
                        .filter(|&l| l > space && l <= rest.len())
                        .ok_or_else(|| Error::Archive("bad pax record length".into()))?;
                    let record = &rest[space + 1..len];
                    if let Some(path) = record.strip_prefix(b"path=") {
                        long_name = Some(path.strip_suffix(b"\n").unwrap_or(path).to_vec());
                    }
                    rest = &rest[len..];
                }
            }
            b'0' | 0 | b'7' => {
                let name = match long_name.take() {
                    Some(n) => n,
                    None => {
                        let mut n = Vec::new();
                        if &header[257..263] == b"ustar\0" {
                            let prefix = c_string(&header[345..500]);
                            if !prefix.is_empty() {
                                n.extend_from_slice(prefix);
                                n.push(b'/');
                            }
                        }
                        n.extend_from_slice(c_string(&header[..100]));
                        n
                    }
                };
                let name = String::from_utf8(name)
                    .map_err(|_| Error::Archive("file name is not UTF-8".into()))?;
                let name = name.trim_start_matches("./").into();
                files.insert(name, data);
            }
            _ => long_name = None,
        }
        pos = next;
    }
    Ok(files)
}

/// Finds the SavedModel files in an archive: `saved_model.pb` (at the top or in one directory)
/// and its `variables/` checkpoint.
pub fn saved_model_files<'a>(files: &BTreeMap<String, &'a [u8]>) -> Result<SavedModelFiles<'a>> {
    let (root, saved_model) = files
        .iter()
        .filter_map(|(name, data)| {
            let root = name.strip_suffix("saved_model.pb")?;
            (root.is_empty() || root.ends_with('/')).then_some((root, *data))
        })
        .min_by_key(|(root, _)| root.len())
        .ok_or_else(|| Error::Archive("no saved_model.pb in the archive".into()))?;
    let variables_index = files
        .get(&format!("{root}variables/variables.index"))
        .copied();
    let mut variables_data = Vec::new();
    if variables_index.is_some() {
        // The shard count is in the file names; the bundle header checks it again.
        let prefix = format!("{root}variables/variables.data-");
        let count = files.keys().filter(|k| k.starts_with(&prefix)).count();
        for k in 0..count {
            let name = shard_file_name(&format!("{root}variables/variables"), k, count);
            let data = files
                .get(&name)
                .ok_or_else(|| Error::Archive(format!("missing checkpoint shard {name}")))?;
            variables_data.push(*data);
        }
    }
    Ok(SavedModelFiles {
        saved_model,
        variables_index,
        variables_data,
    })
}

/// Writes files into a ustar archive (names up to 100 bytes, or 255 split at a `/`).
pub fn write_tar(files: &[(&str, &[u8])]) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    for (name, data) in files {
        let mut header = [0u8; BLOCK];
        let bytes = name.as_bytes();
        if bytes.len() <= 100 {
            header[..bytes.len()].copy_from_slice(bytes);
        } else {
            let split = bytes[..bytes.len().min(156)]
                .iter()
                .rposition(|&b| b == b'/')
                .filter(|&s| bytes.len() - s - 1 <= 100 && s <= 155)
                .ok_or_else(|| Error::Archive(format!("name too long for ustar: {name}")))?;
            header[345..345 + split].copy_from_slice(&bytes[..split]);
            header[..bytes.len() - split - 1].copy_from_slice(&bytes[split + 1..]);
        }
        header[100..107].copy_from_slice(b"0000644");
        header[108..115].copy_from_slice(b"0000000");
        header[116..123].copy_from_slice(b"0000000");
        let size = format!("{:011o}", data.len());
        if size.len() != 11 {
            return Err(Error::Archive(format!("{name} is too large for ustar")));
        }
        header[124..135].copy_from_slice(size.as_bytes());
        header[136..147].copy_from_slice(b"00000000000");
        header[156] = b'0';
        header[257..263].copy_from_slice(b"ustar\0");
        header[263..265].copy_from_slice(b"00");
        header[148..156].copy_from_slice(b"        ");
        let sum: u32 = header.iter().map(|&b| u32::from(b)).sum();
        let sum = format!("{sum:06o}\0 ");
        header[148..156].copy_from_slice(sum.as_bytes());
        out.extend_from_slice(&header);
        out.extend_from_slice(data);
        out.resize(out.len().div_ceil(BLOCK) * BLOCK, 0);
    }
    out.resize(out.len() + 2 * BLOCK, 0);
    Ok(out)
}
