//! Spotting programs whose clock `LD_PRELOAD` cannot fake, so that the user is warned at
//! start instead of wondering later why one service ignores a travel.
//!
//! Both injectors work by preloading a shared library, which only the dynamic loader does.
//! A program without a `PT_INTERP` program header is statically linked and never runs the
//! loader; a Go program reads the vDSO itself even when it is dynamically linked. Scripts
//! are judged by their `#!` interpreter (through `/usr/bin/env` too). Reading the ELF
//! header and program headers needs no parser crate: they are fixed-layout records.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

const PT_INTERP: u32 = 3;
const PT_NOTE: u32 = 4;
/// How many `#!` hops are followed before giving up (a script run by a script…).
const MAX_SCRIPT_DEPTH: usize = 4;

/// Returns a warning when `program` (a path, or a name looked up in `PATH`) is one whose
/// clock cannot be faked: a statically linked or Go executable, or a script whose
/// interpreter is one. Returns `None` for dynamically linked programs and for files it
/// cannot read, which fail more clearly when they are spawned.
pub fn static_binary_warning(program: &Path) -> Option<String> {
    let path = resolve(program)?;
    let verdict = inspect(&path, 0)?;
    Some(format!(
        "`{}` {verdict}, so LD_PRELOAD cannot fake its clock: it will see the real time after a travel",
        program.display()
    ))
}

/// What was found, phrased to follow the program's name.
fn inspect(path: &Path, depth: usize) -> Option<String> {
    let file = File::open(path).ok()?;
    let mut head = [0u8; 256];
    let n = read_at_most(&file, &mut head, 0)?;
    let head = &head[..n];
    if let Some(line) = head.strip_prefix(b"#!") {
        if depth >= MAX_SCRIPT_DEPTH {
            return None;
        }
        let line = String::from_utf8_lossy(line.split(|&b| b == b'\n').next()?).into_owned();
        let interpreter = script_interpreter(&line)?;
        let inner = inspect(&interpreter, depth + 1)?;
        return Some(format!(
            "is a script for `{}`, which {inner}",
            interpreter.display()
        ));
    }
    if head.len() < 64 || head[..4] != *b"\x7fELF" {
        return None;
    }
    let elf = Header::parse(head)?;
    let mut interp = false;
    let mut go = false;
    for i in 0..elf.phnum {
        let mut ph = [0u8; 56];
        let len = if elf.is64 { 56 } else { 32 };
        let at = elf.phoff + u64::from(i) * u64::from(elf.phentsize);
        if read_at_most(&file, &mut ph[..len], at)? < len {
            return None;
        }
        let kind = elf.u32(&ph[0..4]);
        let (offset, filesz) = if elf.is64 {
            (elf.u64(&ph[8..16]), elf.u64(&ph[32..40]))
        } else {
            (
                u64::from(elf.u32(&ph[4..8])),
                u64::from(elf.u32(&ph[16..20])),
            )
        };
        match kind {
            PT_INTERP => interp = true,
            PT_NOTE => go |= has_go_note(&file, &elf, offset, filesz),
            _ => {}
        }
    }
    match (interp, go) {
        (_, true) => Some("is a Go program, which reads the clock without libc".to_owned()),
        (false, false) => Some("is statically linked".to_owned()),
        (true, false) => None,
    }
}

/// The fields of an ELF header this module needs.
struct Header {
    is64: bool,
    little: bool,
    phoff: u64,
    phentsize: u16,
    phnum: u16,
}

impl Header {
    fn parse(head: &[u8]) -> Option<Header> {
        let is64 = match head[4] {
            1 => false,
            2 => true,
            _ => return None,
        };
        let little = match head[5] {
            1 => true,
            2 => false,
            _ => return None,
        };
        let mut h = Header {
            is64,
            little,
            phoff: 0,
            phentsize: 0,
            phnum: 0,
        };
        if is64 {
            h.phoff = h.u64(&head[32..40]);
            h.phentsize = h.u16(&head[54..56]);
            h.phnum = h.u16(&head[56..58]);
        } else {
            h.phoff = u64::from(h.u32(&head[28..32]));
            h.phentsize = h.u16(&head[42..44]);
            h.phnum = h.u16(&head[44..46]);
        }
        (h.phentsize as usize >= if is64 { 56 } else { 32 }).then_some(h)
    }

    fn u16(&self, b: &[u8]) -> u16 {
        let b = b.try_into().expect("two bytes");
        if self.little {
            u16::from_le_bytes(b)
        } else {
            u16::from_be_bytes(b)
        }
    }

    fn u32(&self, b: &[u8]) -> u32 {
        let b = b.try_into().expect("four bytes");
        if self.little {
            u32::from_le_bytes(b)
        } else {
            u32::from_be_bytes(b)
        }
    }

    fn u64(&self, b: &[u8]) -> u64 {
        let b = b.try_into().expect("eight bytes");
        if self.little {
            u64::from_le_bytes(b)
        } else {
            u64::from_be_bytes(b)
        }
    }
}

/// Whether a `PT_NOTE` segment holds a note owned by "Go" (the Go linker's build id).
fn has_go_note(file: &File, elf: &Header, offset: u64, size: u64) -> bool {
    let mut notes = vec![0u8; size.min(4096) as usize];
    let Some(n) = read_at_most(file, &mut notes, offset) else {
        return false;
    };
    let mut rest = &notes[..n];
    // Each note: namesz, descsz, type (4 bytes each), then name and desc, each padded to 4.
    while rest.len() >= 12 {
        let namesz = elf.u32(&rest[0..4]) as usize;
        let descsz = elf.u32(&rest[4..8]) as usize;
        let name_end = 12 + namesz;
        if rest.len() < name_end {
            return false;
        }
        if rest[12..name_end].strip_suffix(b"\0") == Some(b"Go") {
            return true;
        }
        let next = 12 + namesz.next_multiple_of(4) + descsz.next_multiple_of(4);
        rest = rest.get(next..).unwrap_or_default();
    }
    false
}

/// The program a `#!` line runs: its first word, or for `/usr/bin/env` the first word
/// after the options, looked up in `PATH`.
fn script_interpreter(line: &str) -> Option<PathBuf> {
    let mut words = line.split_whitespace();
    let first = words.next()?;
    if Path::new(first).file_name()? == "env" {
        let program = words.find(|w| !w.starts_with('-') && !w.contains('='))?;
        return resolve(Path::new(program));
    }
    Some(PathBuf::from(first))
}

/// A path as given, or a bare name looked up in `PATH`, as `env` will look it up.
fn resolve(program: &Path) -> Option<PathBuf> {
    if program.components().count() > 1 || program.is_absolute() {
        return Some(program.to_owned());
    }
    let cwd = std::env::current_dir().ok()?;
    crate::process::find_program(program, std::env::var_os("PATH").as_deref(), &cwd)
}

fn read_at_most(file: &File, buf: &mut [u8], offset: u64) -> Option<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match file.read_at(&mut buf[filled..], offset + filled as u64) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => return None,
        }
    }
    Some(filled)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    /// A minimal little-endian 64-bit ELF file with the given program header types; a
    /// `PT_NOTE` header points at one note owned by `note_owner`.
    fn fake_elf(dir: &Path, name: &str, segments: &[u32], note_owner: &[u8]) -> PathBuf {
        let phoff = 64u64;
        let notes_at = phoff + 56 * segments.len() as u64;
        let mut note = Vec::new();
        note.extend_from_slice(&(note_owner.len() as u32 + 1).to_le_bytes());
        note.extend_from_slice(&4u32.to_le_bytes());
        note.extend_from_slice(&4u32.to_le_bytes());
        note.extend_from_slice(note_owner);
        note.push(0);
        while note.len() % 4 != 0 {
            note.push(0);
        }
        note.extend_from_slice(b"abcd");
        let mut bytes = vec![0u8; 64];
        bytes[..4].copy_from_slice(b"\x7fELF");
        bytes[4] = 2;
        bytes[5] = 1;
        bytes[32..40].copy_from_slice(&phoff.to_le_bytes());
        bytes[54..56].copy_from_slice(&56u16.to_le_bytes());
        bytes[56..58].copy_from_slice(&(segments.len() as u16).to_le_bytes());
        for &kind in segments {
            let mut ph = [0u8; 56];
            ph[0..4].copy_from_slice(&kind.to_le_bytes());
            ph[8..16].copy_from_slice(&notes_at.to_le_bytes());
            ph[32..40].copy_from_slice(&(note.len() as u64).to_le_bytes());
            bytes.extend_from_slice(&ph);
        }
        bytes.extend_from_slice(&note);
        let path = dir.join(name);
        std::fs::write(&path, bytes).unwrap();
        path
    }

    fn script(dir: &Path, name: &str, shebang: &str) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, format!("{shebang}\necho hi\n")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        path
    }

    #[test]
    fn dynamically_linked_programs_pass() {
        assert_eq!(static_binary_warning(Path::new("/bin/sh")), None);
        assert_eq!(static_binary_warning(Path::new("date")), None);
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(
            static_binary_warning(&script(dir.path(), "run.sh", "#!/bin/sh -e")),
            None
        );
        assert_eq!(
            static_binary_warning(&script(dir.path(), "run.py", "#!/usr/bin/env -S sh -e")),
            None
        );
        let dynamic = fake_elf(dir.path(), "dynamic", &[1, PT_INTERP, PT_NOTE], b"GNU");
        assert_eq!(static_binary_warning(&dynamic), None);
    }

    #[test]
    fn unreadable_or_foreign_files_are_left_to_the_spawn() {
        assert_eq!(static_binary_warning(Path::new("/no/such/program")), None);
        assert_eq!(
            static_binary_warning(Path::new("no-such-program-in-path")),
            None
        );
        let dir = tempfile::tempdir().unwrap();
        let text = dir.path().join("notes.txt");
        std::fs::write(&text, "hello").unwrap();
        assert_eq!(static_binary_warning(&text), None);
    }

    #[test]
    fn static_go_and_scripts_for_them_are_flagged() {
        let dir = tempfile::tempdir().unwrap();
        let static_bin = fake_elf(dir.path(), "static", &[1, PT_NOTE], b"GNU");
        let go_bin = fake_elf(dir.path(), "gocgo", &[1, PT_INTERP, PT_NOTE], b"Go");
        let wrapper = script(
            dir.path(),
            "wrapper",
            &format!("#!{}", static_bin.display()),
        );
        let mut warnings = Vec::new();
        for program in [&static_bin, &go_bin, &wrapper] {
            let warning = static_binary_warning(program).expect("flagged");
            warnings.push(warning.replace(&dir.path().display().to_string(), "<dir>"));
        }
        insta::assert_snapshot!(warnings.join("\n"), @r#"
            `<dir>/static` is statically linked, so LD_PRELOAD cannot fake its clock: it will see the real time after a travel
            `<dir>/gocgo` is a Go program, which reads the clock without libc, so LD_PRELOAD cannot fake its clock: it will see the real time after a travel
            `<dir>/wrapper` is a script for `<dir>/static`, which is statically linked, so LD_PRELOAD cannot fake its clock: it will see the real time after a travel
            "#);
    }

    #[test]
    fn a_real_static_pie_is_flagged() {
        // Debian's ldconfig is a static-pie executable: no PT_INTERP, type ET_DYN.
        let ldconfig = Path::new("/sbin/ldconfig");
        assert!(
            ldconfig.exists(),
            "this test expects Debian's static /sbin/ldconfig"
        );
        assert!(
            static_binary_warning(ldconfig)
                .unwrap()
                .contains("is statically linked")
        );
    }
}
