// Target architectures of release builds. The device-side twin of these facts (what an OTA update
// accepts) is src/control/ota/compat.ts; keep the two tables equal (test/release/arch.test.ts).
import { closeSync, openSync, readSync } from 'node:fs';

/** elf: ELF e_machine (System V ABI: EM_AARCH64 = 183, EM_X86_64 = 62); deb: dpkg architecture; cross: GNU triplet. */
export const ARCHES = {
  arm64: { elf: 183, deb: 'arm64', cross: 'aarch64-linux-gnu' },
  x64: { elf: 62, deb: 'amd64', cross: 'x86_64-linux-gnu' },
};

export const hostArch = () => process.arch;

/** e_machine of an ELF file (little-endian header), or undefined when `file` is not ELF. */
export function elfMachine(file) {
  const fd = openSync(file, 'r');
  try {
    const h = Buffer.alloc(20);
    if (readSync(fd, h, 0, 20, 0) < 20 || h.readUInt32BE(0) !== 0x7f454c46) return undefined;
    return h[5] === 2 ? h.readUInt16BE(18) : h.readUInt16LE(18);
  } finally {
    closeSync(fd);
  }
}
