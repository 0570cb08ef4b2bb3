#!/usr/bin/env python3
"""Checks a Mach-O executable built here for macOS, where no Mac is at hand:
`macho.py FILE ARCH MIN_MACOS`. It must be a 64-bit executable for ARCH
(arm64 or x86_64), say it needs at most MIN_MACOS, and load only libraries
every Mac has (/usr/lib and the system frameworks). Prints what it found;
exits 1 with the reason otherwise."""
import struct
import sys

CPU = {"arm64": 0x0100000C, "x86_64": 0x01000007}
LC_LOAD_DYLIB, LC_LOAD_WEAK_DYLIB, LC_REEXPORT_DYLIB, LC_BUILD_VERSION, LC_VERSION_MIN_MACOSX = 0xC, 0x80000018, 0x8000001F, 0x32, 0x24


def version(v):
    return f"{v >> 16}.{(v >> 8) & 0xFF}"


def main(path, arch, min_macos):
    data = open(path, "rb").read()
    magic, cputype, _sub, filetype, ncmds, _size, _flags, _res = struct.unpack_from("<IiiIIIII", data, 0)
    if magic != 0xFEEDFACF:
        return f"not a 64-bit little-endian Mach-O file (magic {magic:#x})"
    if cputype != CPU[arch]:
        return f"built for CPU type {cputype:#x}, not {arch}"
    if filetype != 2:
        return f"file type {filetype}, not an executable"
    libs, minos, off = [], None, 32
    for _ in range(ncmds):
        cmd, size = struct.unpack_from("<II", data, off)
        if cmd in (LC_LOAD_DYLIB, LC_LOAD_WEAK_DYLIB, LC_REEXPORT_DYLIB):
            name_off = struct.unpack_from("<I", data, off + 8)[0]
            libs.append(data[off + name_off : off + size].split(b"\0")[0].decode())
        elif cmd == LC_BUILD_VERSION:
            platform, minos = struct.unpack_from("<II", data, off + 8)
            if platform != 1:
                return f"built for platform {platform}, not macOS (1)"
        elif cmd == LC_VERSION_MIN_MACOSX:
            minos = struct.unpack_from("<I", data, off + 8)[0]
        off += size
    if minos is None:
        return "no minimum macOS version recorded"
    want = tuple(int(x) for x in min_macos.split("."))
    if (minos >> 16, (minos >> 8) & 0xFF) > want:
        return f"needs macOS {version(minos)}, newer than {min_macos}"
    foreign = [l for l in libs if not (l.startswith("/usr/lib/") or l.startswith("/System/Library/Frameworks/"))]
    if foreign:
        return f"loads libraries a stock Mac lacks: {foreign}"
    print(f"{path}: Mach-O {arch} executable, macOS {version(minos)}+, loads {', '.join(libs)}")
    return None


if __name__ == "__main__":
    why = main(*sys.argv[1:4])
    if why:
        print(f"FAIL: {sys.argv[1]}: {why}", file=sys.stderr)
        sys.exit(1)
