//! Finding the kernel's `clock_gettime` in the vDSO, without the dynamic loader.
//!
//! The usual way to reach the next `clock_gettime` is `dlsym(RTLD_NEXT, …)`, and that is
//! what makes libfaketime deadlock programs linked with jemalloc: `dlsym` allocates, the
//! allocator reads the clock, and the clock hook calls `dlsym` again under the allocator's
//! lock. The vDSO is an ELF image the kernel maps into every process and announces in the
//! auxiliary vector (`AT_SYSINFO_EHDR`), so its dynamic symbol table can be walked with
//! plain memory reads: no allocation, no lock, no system call.
//!
//! Only 64-bit ELF is handled; elsewhere [`find_clock_gettime`] returns `None` and the
//! library falls back to the raw system call.

use core::ffi::{c_char, c_int};

/// The signature of the vDSO's `clock_gettime`. On error it returns a negative errno
/// rather than setting `errno`, like the raw system call.
pub type VdsoClockGettime = unsafe extern "C" fn(libc::clockid_t, *mut libc::timespec) -> c_int;

/// The names the kernel exports its `clock_gettime` under, by architecture.
const NAMES: &[&[u8]] = &[b"__vdso_clock_gettime", b"__kernel_clock_gettime"];

const PT_LOAD: u32 = 1;
const PT_DYNAMIC: u32 = 2;
const DT_NULL: i64 = 0;
const DT_HASH: i64 = 4;
const DT_STRTAB: i64 = 5;
const DT_SYMTAB: i64 = 6;
const DT_GNU_HASH: i64 = 0x6fff_fef5;
const STT_FUNC: u8 = 2;
const SHN_UNDEF: u16 = 0;

#[repr(C)]
struct Ehdr {
    ident: [u8; 16],
    kind: u16,
    machine: u16,
    version: u32,
    entry: u64,
    phoff: u64,
    shoff: u64,
    flags: u32,
    ehsize: u16,
    phentsize: u16,
    phnum: u16,
    shentsize: u16,
    shnum: u16,
    shstrndx: u16,
}

#[repr(C)]
struct Phdr {
    kind: u32,
    flags: u32,
    offset: u64,
    vaddr: u64,
    paddr: u64,
    filesz: u64,
    memsz: u64,
    align: u64,
}

#[repr(C)]
struct Dyn {
    tag: i64,
    val: u64,
}

#[repr(C)]
struct Sym {
    name: u32,
    info: u8,
    other: u8,
    shndx: u16,
    value: u64,
    size: u64,
}

/// Looks up the vDSO's `clock_gettime`, or `None` when there is no vDSO (some sandboxes
/// and `vdso=0` kernels) or it does not export one.
pub fn find_clock_gettime() -> Option<VdsoClockGettime> {
    if cfg!(not(target_pointer_width = "64")) {
        return None;
    }
    // SAFETY: getauxval only reads the auxiliary vector.
    let base = unsafe { libc::getauxval(libc::AT_SYSINFO_EHDR) } as usize;
    if base == 0 {
        return None;
    }
    // SAFETY: the kernel maps a complete, well-formed ELF image at `base`, and it stays
    // mapped for the life of the process.
    let addr = unsafe { lookup(base, NAMES)? };
    // SAFETY: the symbol is a function with the C signature the kernel documents
    // (vdso(7)).
    Some(unsafe { core::mem::transmute::<usize, VdsoClockGettime>(addr) })
}

/// Returns the address of the first of `names` defined as a function in the ELF image
/// loaded at `base`.
///
/// # Safety
/// `base` must be the start of a mapped, well-formed 64-bit ELF shared object.
unsafe fn lookup(base: usize, names: &[&[u8]]) -> Option<usize> {
    // SAFETY (for the whole function): the caller guarantees a mapped, well-formed image,
    // so every header, table and string read below lies inside it.
    unsafe {
        let ehdr = &*(base as *const Ehdr);
        if ehdr.ident[..4] != *b"\x7fELF" || ehdr.ident[4] != 2 {
            return None;
        }
        let phdrs = core::slice::from_raw_parts(
            (base + ehdr.phoff as usize) as *const Phdr,
            ehdr.phnum as usize,
        );
        // The image's addresses are link-time addresses; the load bias turns them into
        // where the kernel actually mapped them.
        let mut bias = None;
        let mut dynamic = None;
        for ph in phdrs {
            match ph.kind {
                PT_LOAD if bias.is_none() => {
                    bias = Some(
                        base.wrapping_add(ph.offset as usize)
                            .wrapping_sub(ph.vaddr as usize),
                    )
                }
                PT_DYNAMIC => dynamic = Some(ph.vaddr as usize),
                _ => {}
            }
        }
        let bias = bias?;
        let mut entry = bias.wrapping_add(dynamic?) as *const Dyn;
        let (mut strtab, mut symtab, mut hash, mut gnu_hash) = (0, 0, 0, 0);
        while (*entry).tag != DT_NULL {
            let at = bias.wrapping_add((*entry).val as usize);
            match (*entry).tag {
                DT_STRTAB => strtab = at,
                DT_SYMTAB => symtab = at,
                DT_HASH => hash = at,
                DT_GNU_HASH => gnu_hash = at,
                _ => {}
            }
            entry = entry.add(1);
        }
        if strtab == 0 || symtab == 0 {
            return None;
        }
        let count = if hash != 0 {
            // DT_HASH: nbucket, nchain, …; nchain is the number of symbols.
            *(hash as *const u32).add(1) as usize
        } else if gnu_hash != 0 {
            gnu_hash_symbol_count(gnu_hash)
        } else {
            return None;
        };
        let syms = core::slice::from_raw_parts(symtab as *const Sym, count);
        for wanted in names {
            for sym in syms {
                if sym.info & 0xf != STT_FUNC || sym.shndx == SHN_UNDEF || sym.value == 0 {
                    continue;
                }
                let name = core::ffi::CStr::from_ptr((strtab + sym.name as usize) as *const c_char);
                if name.to_bytes() == *wanted {
                    return Some(bias.wrapping_add(sym.value as usize));
                }
            }
        }
        None
    }
}

/// Counts the symbols of an image that has only a GNU hash table: one past the highest
/// symbol index any chain reaches.
///
/// # Safety
/// `table` must point at a well-formed `DT_GNU_HASH` table of a mapped 64-bit image.
unsafe fn gnu_hash_symbol_count(table: usize) -> usize {
    // SAFETY: the caller guarantees a well-formed table; its layout is
    // nbuckets, symoffset, bloom_size, bloom_shift, bloom[bloom_size] (u64), buckets, chains.
    unsafe {
        let words = table as *const u32;
        let nbuckets = *words as usize;
        let symoffset = *words.add(1) as usize;
        let bloom_size = *words.add(2) as usize;
        let buckets = words.add(4 + bloom_size * 2);
        let chains = buckets.add(nbuckets);
        let mut last = 0;
        for i in 0..nbuckets {
            last = last.max(*buckets.add(i) as usize);
        }
        if last < symoffset {
            return symoffset;
        }
        // Each chain ends with an entry whose lowest bit is set.
        while *chains.add(last - symoffset) & 1 == 0 {
            last += 1;
        }
        last + 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_vdso_clock_agrees_with_the_system_call() {
        let vdso = find_clock_gettime().expect("this kernel maps a vDSO exporting clock_gettime");
        let mut via_vdso = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        let mut via_syscall = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: both calls write one timespec we own.
        let (a, b) = unsafe {
            (
                vdso(libc::CLOCK_MONOTONIC, &mut via_vdso),
                libc::syscall(
                    libc::SYS_clock_gettime,
                    libc::CLOCK_MONOTONIC,
                    &mut via_syscall,
                ),
            )
        };
        assert_eq!((a, b), (0, 0));
        let ns = |t: libc::timespec| t.tv_sec as i128 * 1_000_000_000 + t.tv_nsec as i128;
        let gap = ns(via_syscall) - ns(via_vdso);
        assert!(
            (0..1_000_000_000).contains(&gap),
            "vDSO and syscall disagree by {gap} ns"
        );
    }

    #[test]
    fn unknown_names_are_not_found() {
        // SAFETY: getauxval only reads the auxiliary vector.
        let base = unsafe { libc::getauxval(libc::AT_SYSINFO_EHDR) } as usize;
        assert_ne!(base, 0);
        // SAFETY: the kernel maps a well-formed image at `base`.
        assert_eq!(unsafe { lookup(base, &[b"__vdso_no_such_function"]) }, None);
    }
}
