//! Model digests: the algorithms a LOAD_MODEL job may announce (spec §5.3), computed the same
//! way by the device (from the host's bytes) and by the driver (over its private copy).

use crate::message::DigestAlgorithm;

/// A model digest: the algorithm and its 32-byte value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ModelDigest {
    /// The algorithm.
    pub alg: DigestAlgorithm,
    /// The digest.
    pub value: [u8; 32],
}

impl ModelDigest {
    /// The `alg` digest of `bytes`.
    pub fn of(alg: DigestAlgorithm, bytes: &[u8]) -> Self {
        let mut hasher = DigestHasher::new(alg);
        hasher.update(bytes);
        ModelDigest {
            alg,
            value: hasher.finalize(),
        }
    }
}

/// An incremental digest of one of the [`DigestAlgorithm`]s.
// One hasher lives on the stack per model transfer; this crate has no allocator to box it.
#[allow(clippy::large_enum_variant)]
#[derive(Clone)]
pub enum DigestHasher {
    /// SHA-256 (SHA-NI when the CPU has it).
    Sha256(sha2::Sha256),
    /// BLAKE3 (SIMD chosen at run time).
    Blake3(blake3::Hasher),
}

impl DigestHasher {
    /// A hasher for `alg`.
    pub fn new(alg: DigestAlgorithm) -> Self {
        match alg {
            DigestAlgorithm::Sha256 => DigestHasher::Sha256(sha2::Digest::new()),
            DigestAlgorithm::Blake3 => DigestHasher::Blake3(blake3::Hasher::new()),
        }
    }

    /// Hashes `bytes` (after everything hashed before).
    pub fn update(&mut self, bytes: &[u8]) {
        match self {
            DigestHasher::Sha256(h) => sha2::Digest::update(h, bytes),
            DigestHasher::Blake3(h) => {
                h.update(bytes);
            }
        }
    }

    /// The digest of everything hashed.
    pub fn finalize(self) -> [u8; 32] {
        match self {
            DigestHasher::Sha256(h) => sha2::Digest::finalize(h).into(),
            DigestHasher::Blake3(h) => *h.finalize().as_bytes(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(bytes: &[u8; 32]) -> [u8; 64] {
        let mut out = [0u8; 64];
        for (i, b) in bytes.iter().enumerate() {
            out[2 * i] = b"0123456789abcdef"[(b >> 4) as usize];
            out[2 * i + 1] = b"0123456789abcdef"[(b & 15) as usize];
        }
        out
    }

    #[test]
    fn known_answers() {
        let sha = ModelDigest::of(DigestAlgorithm::Sha256, b"abc");
        assert_eq!(
            &hex(&sha.value),
            b"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        let blake = ModelDigest::of(DigestAlgorithm::Blake3, b"abc");
        assert_eq!(
            &hex(&blake.value),
            b"6437b3ac38465133ffb63b75273a8db548c558465d79db03fd359c6cd5bd9d85"
        );
    }

    #[test]
    fn incremental_equals_one_shot() {
        let data: [u8; 5000] = core::array::from_fn(|i| (i * 7 % 251) as u8);
        for alg in [DigestAlgorithm::Sha256, DigestAlgorithm::Blake3] {
            let mut h = DigestHasher::new(alg);
            for part in data.chunks(1024 + 3) {
                h.update(part);
            }
            assert_eq!(h.finalize(), ModelDigest::of(alg, &data).value, "{alg:?}");
        }
    }
}
