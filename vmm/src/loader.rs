//! Kernel image validation and loading.
//!
//! The image is untrusted input: before linux-loader copies its segments into guest memory, it is
//! parsed here with checked arithmetic. It must be a 64-bit little-endian x86_64 ELF executable
//! whose loadable segments respect the guest layout (ring-0 part between 1 and 2 MiB, nothing in
//! the guard or the ring-3 stack, everything inside RAM) and that carries the Cerebro boot note,
//! which locates the kernel's fault stubs for the IDT.

use std::io::Cursor;

use linux_loader::loader::elf::{Elf, PvhBootCapability};
use linux_loader::loader::KernelLoader;
use vm_memory::{GuestAddress, GuestMemoryMmap};

use crate::arch::x86_64::layout::{
    GUARD_START, RING0_IMAGE_END, RING0_IMAGE_START, USER_STACK_TOP,
};
use crate::arch::x86_64::paging::SegmentPermissions;

const PT_LOAD: u32 = 1;
const PT_NOTE: u32 = 4;
const PF_X: u32 = 1;
const PF_W: u32 = 2;
const ELF_HEADER_SIZE: usize = 64;
const PHDR_SIZE: usize = 56;
const MAX_PHDRS: usize = 64;
/// Name of the Cerebro boot note.
const CEREBRO_NOTE_NAME: &[u8] = b"Cerebro\0";
/// Type of the Cerebro boot note.
const CEREBRO_NOTE_TYPE: u32 = 1;
/// ABI version of the Cerebro boot note this VMM understands.
const CEREBRO_NOTE_VERSION: u32 = 1;
/// Fault stubs the kernel must provide (one per vector).
const FAULT_STUB_COUNT: u32 = 256;

/// Why a kernel image was refused.
#[derive(Debug, thiserror::Error)]
pub enum KernelError {
    /// The image has no bytes.
    #[error("kernel image is empty")]
    Empty,
    /// The image does not start with the ELF magic.
    #[error("kernel image is not an ELF file (starts with {0:02x?})")]
    NotElf(Vec<u8>),
    /// The ELF is of the wrong kind.
    #[error("kernel image is not a 64-bit little-endian x86_64 executable: {0}")]
    WrongKind(&'static str),
    /// A structure lies beyond the end of the file.
    #[error("kernel image is truncated or corrupt: {what} at offset {offset:#x} (+{len:#x}) is past the end of the {size:#x}-byte file")]
    Truncated {
        /// What was being read.
        what: &'static str,
        /// File offset.
        offset: u64,
        /// Bytes needed.
        len: u64,
        /// File size.
        size: usize,
    },
    /// The Cerebro boot note is missing.
    #[error("kernel image has no Cerebro boot note: not a Cerebro kernel")]
    NoCerebroNote,
    /// The Cerebro boot note is malformed.
    #[error("kernel image's Cerebro boot note is invalid: {0}")]
    BadNote(&'static str),
    /// A loadable segment breaks the guest layout.
    #[error("kernel segment [{start:#x}, {end:#x}) {problem}")]
    BadSegment {
        /// Guest-physical start.
        start: u64,
        /// Guest-physical end.
        end: u64,
        /// What is wrong.
        problem: &'static str,
    },
    /// The entry point is not in the ring-0 code.
    #[error("kernel entry point {0:#x} is not in its executable ring-0 segment")]
    BadEntry(u64),
    /// linux-loader refused the image.
    #[error("loading the kernel: {0}")]
    Load(#[source] linux_loader::loader::Error),
}

/// Where the kernel's fault stubs are (from the Cerebro boot note).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FaultStubs {
    /// Guest-physical address of the stub for vector 0.
    pub table: u64,
    /// Bytes between consecutive stubs.
    pub stride: u64,
}

/// A validated kernel image.
#[derive(Clone, Debug)]
pub struct KernelImage<'a> {
    bytes: &'a [u8],
    /// The 64-bit ELF entry point.
    pub entry: u64,
    /// The fault stubs.
    pub stubs: FaultStubs,
    /// The loadable segments with their permissions.
    pub segments: Vec<SegmentPermissions>,
    /// Highest guest-physical address used by the image (exclusive).
    pub end: u64,
}

fn read_u16(bytes: &[u8], offset: usize) -> u16 {
    u16::from_le_bytes([bytes[offset], bytes[offset + 1]])
}

fn read_u32(bytes: &[u8], offset: usize) -> u32 {
    u32::from_le_bytes(bytes[offset..offset + 4].try_into().expect("4-byte slice"))
}

fn read_u64(bytes: &[u8], offset: usize) -> u64 {
    u64::from_le_bytes(bytes[offset..offset + 8].try_into().expect("8-byte slice"))
}

/// `bytes[offset..offset + len]`, or a [`KernelError::Truncated`] naming `what`.
fn slice<'a>(
    bytes: &'a [u8],
    offset: u64,
    len: u64,
    what: &'static str,
) -> Result<&'a [u8], KernelError> {
    let truncated = || KernelError::Truncated {
        what,
        offset,
        len,
        size: bytes.len(),
    };
    let start = usize::try_from(offset).map_err(|_| truncated())?;
    let len_usize = usize::try_from(len).map_err(|_| truncated())?;
    let end = start.checked_add(len_usize).ok_or_else(truncated)?;
    bytes.get(start..end).ok_or_else(truncated)
}

impl<'a> KernelImage<'a> {
    /// Validates `bytes` as a Cerebro kernel for a guest with `ram_size` bytes of RAM.
    pub fn parse(bytes: &'a [u8], ram_size: u64) -> Result<Self, KernelError> {
        if bytes.is_empty() {
            return Err(KernelError::Empty);
        }
        if bytes.len() < 4 || &bytes[..4] != b"\x7fELF" {
            return Err(KernelError::NotElf(bytes[..bytes.len().min(4)].to_vec()));
        }
        let header = slice(bytes, 0, ELF_HEADER_SIZE as u64, "ELF header")?;
        if header[4] != 2 {
            return Err(KernelError::WrongKind("not ELFCLASS64"));
        }
        if header[5] != 1 {
            return Err(KernelError::WrongKind("not little-endian"));
        }
        if read_u16(header, 16) != 2 {
            return Err(KernelError::WrongKind("not an executable (ET_EXEC)"));
        }
        if read_u16(header, 18) != 62 {
            return Err(KernelError::WrongKind("not x86_64 (EM_X86_64)"));
        }
        let entry = read_u64(header, 24);
        let phoff = read_u64(header, 32);
        let phentsize = usize::from(read_u16(header, 54));
        let phnum = usize::from(read_u16(header, 56));
        if phentsize != PHDR_SIZE {
            return Err(KernelError::WrongKind("program header size is not 56"));
        }
        if phnum == 0 || phnum > MAX_PHDRS {
            return Err(KernelError::WrongKind(
                "program header count is 0 or above 64",
            ));
        }
        let phdrs = slice(
            bytes,
            phoff,
            (phnum * PHDR_SIZE) as u64,
            "program header table",
        )?;

        let mut segments = Vec::new();
        let mut stubs = None;
        for phdr in phdrs.chunks_exact(PHDR_SIZE) {
            let kind = read_u32(phdr, 0);
            let flags = read_u32(phdr, 4);
            let offset = read_u64(phdr, 8);
            let paddr = read_u64(phdr, 24);
            let file_size = read_u64(phdr, 32);
            let mem_size = read_u64(phdr, 40);
            match kind {
                PT_LOAD => {
                    slice(bytes, offset, file_size, "loadable segment")?;
                    let end = paddr.checked_add(mem_size).ok_or(KernelError::BadSegment {
                        start: paddr,
                        end: u64::MAX,
                        problem: "wraps around the address space",
                    })?;
                    let bad = |problem| KernelError::BadSegment {
                        start: paddr,
                        end,
                        problem,
                    };
                    if file_size > mem_size {
                        return Err(bad("has a file size larger than its memory size"));
                    }
                    if paddr < RING0_IMAGE_START {
                        return Err(bad("lies below 1 MiB (the VMM's system area)"));
                    }
                    if paddr < RING0_IMAGE_END && end > RING0_IMAGE_END {
                        return Err(bad("crosses the end of the ring-0 region at 2 MiB"));
                    }
                    if paddr < USER_STACK_TOP && end > GUARD_START {
                        return Err(bad(
                            "overlaps the stack guard or the ring-3 stack (2-12 MiB)",
                        ));
                    }
                    if end > ram_size {
                        return Err(bad("does not fit in guest RAM"));
                    }
                    segments.push(SegmentPermissions {
                        start: paddr,
                        end,
                        writable: flags & PF_W != 0,
                        executable: flags & PF_X != 0,
                    });
                }
                PT_NOTE => {
                    let notes = slice(bytes, offset, file_size, "note segment")?;
                    if let Some(found) = find_cerebro_note(notes)? {
                        stubs = Some(found);
                    }
                }
                _ => {}
            }
        }
        let stubs = stubs.ok_or(KernelError::NoCerebroNote)?;
        let ring0_code = |addr: u64, len: u64| {
            segments.iter().any(|s| {
                s.executable
                    && s.end <= RING0_IMAGE_END
                    && s.start <= addr
                    && addr.checked_add(len).is_some_and(|e| e <= s.end)
            })
        };
        if !ring0_code(entry, 1) {
            return Err(KernelError::BadEntry(entry));
        }
        if !ring0_code(stubs.table, stubs.stride * u64::from(FAULT_STUB_COUNT)) {
            return Err(KernelError::BadNote(
                "the fault stub table is not in executable ring-0 code",
            ));
        }
        let end = segments.iter().map(|s| s.end).max().unwrap_or(0);
        Ok(Self {
            bytes,
            entry,
            stubs,
            segments,
            end,
        })
    }

    /// Copies the segments into guest memory (linux-loader) and returns the PVH entry, if any.
    pub fn load(&self, memory: &GuestMemoryMmap) -> Result<Option<u64>, KernelError> {
        let mut image = Cursor::new(self.bytes);
        let result = Elf::load(
            memory,
            None,
            &mut image,
            Some(GuestAddress(RING0_IMAGE_START)),
        )
        .map_err(KernelError::Load)?;
        Ok(match result.pvh_boot_cap {
            PvhBootCapability::PvhEntryPresent(addr) => Some(addr.0),
            _ => None,
        })
    }
}

/// Looks for the Cerebro note in a PT_NOTE segment's bytes.
fn find_cerebro_note(notes: &[u8]) -> Result<Option<FaultStubs>, KernelError> {
    let align4 = |n: usize| n.checked_add(3).map(|n| n & !3);
    let mut at = 0usize;
    while at + 12 <= notes.len() {
        let namesz = read_u32(notes, at) as usize;
        let descsz = read_u32(notes, at + 4) as usize;
        let kind = read_u32(notes, at + 8);
        let name_start = at + 12;
        let desc_start = align4(namesz)
            .and_then(|n| name_start.checked_add(n))
            .ok_or(KernelError::BadNote("note size overflows"))?;
        let next = align4(descsz)
            .and_then(|d| desc_start.checked_add(d))
            .ok_or(KernelError::BadNote("note size overflows"))?;
        if next > notes.len() {
            // A truncated note: other VMMs would stop here too.
            break;
        }
        let name = &notes[name_start..name_start + namesz];
        if kind == CEREBRO_NOTE_TYPE && name == CEREBRO_NOTE_NAME {
            let desc = &notes[desc_start..desc_start + descsz];
            if desc.len() < 24 {
                return Err(KernelError::BadNote("descriptor shorter than 24 bytes"));
            }
            if read_u32(desc, 0) != CEREBRO_NOTE_VERSION {
                return Err(KernelError::BadNote("unsupported ABI version"));
            }
            let stride = u64::from(read_u32(desc, 4));
            let table = read_u64(desc, 8);
            let count = read_u32(desc, 16);
            if !(8..=64).contains(&stride) {
                return Err(KernelError::BadNote("fault stub stride outside 8..=64"));
            }
            if count != FAULT_STUB_COUNT {
                return Err(KernelError::BadNote("fault stub count is not 256"));
            }
            return Ok(Some(FaultStubs { table, stride }));
        }
        at = next;
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_non_elf_and_truncated_images() {
        assert!(matches!(
            KernelImage::parse(b"", 64 << 20),
            Err(KernelError::Empty)
        ));
        assert!(matches!(
            KernelImage::parse(b"MZ\x90\x00garbage", 64 << 20),
            Err(KernelError::NotElf(_))
        ));
        assert!(matches!(
            KernelImage::parse(b"\x7fELF\x02\x01", 64 << 20),
            Err(KernelError::Truncated { .. })
        ));
        let mut header = vec![0u8; 64];
        header[..4].copy_from_slice(b"\x7fELF");
        header[4] = 1;
        assert!(matches!(
            KernelImage::parse(&header, 64 << 20),
            Err(KernelError::WrongKind(_))
        ));
    }

    #[test]
    fn refuses_a_program_header_table_past_the_end() {
        let mut header = vec![0u8; 64];
        header[..4].copy_from_slice(b"\x7fELF");
        header[4] = 2;
        header[5] = 1;
        header[16] = 2;
        header[18] = 62;
        header[32..40].copy_from_slice(&u64::MAX.to_le_bytes());
        header[54] = 56;
        header[56] = 3;
        let error = KernelImage::parse(&header, 64 << 20).unwrap_err();
        assert!(
            matches!(
                error,
                KernelError::Truncated {
                    what: "program header table",
                    ..
                }
            ),
            "{error}"
        );
    }

    #[test]
    fn finds_the_note_among_others() {
        let mut notes = Vec::new();
        // A Xen note first.
        notes.extend_from_slice(&4u32.to_le_bytes());
        notes.extend_from_slice(&4u32.to_le_bytes());
        notes.extend_from_slice(&18u32.to_le_bytes());
        notes.extend_from_slice(b"Xen\0");
        notes.extend_from_slice(&0x10_0000u32.to_le_bytes());
        notes.extend_from_slice(&8u32.to_le_bytes());
        notes.extend_from_slice(&24u32.to_le_bytes());
        notes.extend_from_slice(&1u32.to_le_bytes());
        notes.extend_from_slice(b"Cerebro\0");
        notes.extend_from_slice(&1u32.to_le_bytes());
        notes.extend_from_slice(&16u32.to_le_bytes());
        notes.extend_from_slice(&0x10_0000u64.to_le_bytes());
        notes.extend_from_slice(&256u32.to_le_bytes());
        notes.extend_from_slice(&0u32.to_le_bytes());
        assert_eq!(
            find_cerebro_note(&notes).unwrap(),
            Some(FaultStubs {
                table: 0x10_0000,
                stride: 16
            })
        );
        assert_eq!(find_cerebro_note(&notes[..20]).unwrap(), None);
    }
}
