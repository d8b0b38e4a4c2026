//! `memcpy`, `memmove`, `memset`, `memcmp` and `bcmp`, which the compiler calls and no libc
//! provides here. String instructions keep them short and stop LLVM from turning their loops back
//! into calls to themselves.

use core::arch::asm;

/// Copies `n` bytes from `src` to `dest` (non-overlapping).
///
/// # Safety
/// Both ranges must be valid for `n` bytes and must not overlap.
#[no_mangle]
pub unsafe extern "C" fn memcpy(dest: *mut u8, src: *const u8, n: usize) -> *mut u8 {
    if n <= 64 {
        // SAFETY: the caller guarantees both ranges are valid for `n` bytes.
        unsafe { copy_small(dest, src, n) };
        return dest;
    }
    // SAFETY: the caller guarantees both ranges are valid; DF is clear (ABI).
    unsafe {
        asm!("rep movsb", inout("rcx") n => _, inout("rdi") dest => _, inout("rsi") src => _, options(nostack, preserves_flags));
    }
    dest
}

/// Copies `n <= 64` bytes with two to four (possibly overlapping) unaligned loads, all done
/// before any store, so it is also correct for overlapping ranges. `rep movsb` has a start-up
/// cost of tens of cycles, which dominated the engine's many short row copies.
///
/// # Safety
/// Both ranges must be valid for `n` bytes.
#[inline(always)]
unsafe fn copy_small(dest: *mut u8, src: *const u8, n: usize) {
    use core::ptr::{read_unaligned as load, write_unaligned as store};
    // SAFETY (all blocks): every access lies in `[src, src + n)` or `[dest, dest + n)`.
    unsafe {
        if n >= 32 {
            let (a, b) = (load(src as *const u128), load(src.add(16) as *const u128));
            let (c, d) = (
                load(src.add(n - 32) as *const u128),
                load(src.add(n - 16) as *const u128),
            );
            store(dest as *mut u128, a);
            store(dest.add(16) as *mut u128, b);
            store(dest.add(n - 32) as *mut u128, c);
            store(dest.add(n - 16) as *mut u128, d);
        } else if n >= 16 {
            let (a, b) = (
                load(src as *const u128),
                load(src.add(n - 16) as *const u128),
            );
            store(dest as *mut u128, a);
            store(dest.add(n - 16) as *mut u128, b);
        } else if n >= 8 {
            let (a, b) = (load(src as *const u64), load(src.add(n - 8) as *const u64));
            store(dest as *mut u64, a);
            store(dest.add(n - 8) as *mut u64, b);
        } else if n >= 4 {
            let (a, b) = (load(src as *const u32), load(src.add(n - 4) as *const u32));
            store(dest as *mut u32, a);
            store(dest.add(n - 4) as *mut u32, b);
        } else if n > 0 {
            let (a, b, c) = (*src, *src.add(n / 2), *src.add(n - 1));
            *dest = a;
            *dest.add(n / 2) = b;
            *dest.add(n - 1) = c;
        }
    }
}

/// Copies `n` bytes from `src` to `dest`; the ranges may overlap.
///
/// # Safety
/// Both ranges must be valid for `n` bytes.
#[no_mangle]
pub unsafe extern "C" fn memmove(dest: *mut u8, src: *const u8, n: usize) -> *mut u8 {
    if n <= 64 {
        // SAFETY: the caller guarantees both ranges are valid; all loads precede the stores.
        unsafe { copy_small(dest, src, n) };
    } else if (dest as usize).wrapping_sub(src as usize) >= n {
        // dest is below src or the ranges do not overlap: copy forwards.
        // SAFETY: forward copy is correct when dest does not start inside (src, src + n).
        unsafe { memcpy(dest, src, n) };
    } else if n > 0 {
        // SAFETY: copy backwards from the last byte with DF set, then clear DF again (ABI).
        unsafe {
            asm!(
                "std", "rep movsb", "cld",
                inout("rcx") n => _,
                inout("rdi") dest.add(n - 1) => _,
                inout("rsi") src.add(n - 1) => _,
                options(nostack)
            );
        }
    }
    dest
}

/// Fills `n` bytes at `dest` with `value as u8`.
///
/// # Safety
/// The range must be valid for `n` bytes.
#[no_mangle]
pub unsafe extern "C" fn memset(dest: *mut u8, value: i32, n: usize) -> *mut u8 {
    // SAFETY: the caller guarantees the range is valid; DF is clear (ABI).
    unsafe {
        asm!("rep stosb", inout("rcx") n => _, inout("rdi") dest => _, in("al") value as u8, options(nostack, preserves_flags));
    }
    dest
}

/// Compares `n` bytes; returns the difference of the first differing pair.
///
/// # Safety
/// Both ranges must be valid for `n` bytes.
#[no_mangle]
pub unsafe extern "C" fn memcmp(a: *const u8, b: *const u8, n: usize) -> i32 {
    let mut i = 0;
    while i < n {
        // SAFETY: i < n and the caller guarantees both ranges are valid for n bytes.
        let (x, y) = unsafe {
            (
                core::ptr::read_volatile(a.add(i)),
                core::ptr::read_volatile(b.add(i)),
            )
        };
        if x != y {
            return i32::from(x) - i32::from(y);
        }
        i += 1;
    }
    0
}

/// Like [`memcmp`] but only zero / non-zero matters.
///
/// # Safety
/// Both ranges must be valid for `n` bytes.
#[no_mangle]
pub unsafe extern "C" fn bcmp(a: *const u8, b: *const u8, n: usize) -> i32 {
    // SAFETY: same contract as memcmp.
    unsafe { memcmp(a, b, n) }
}
