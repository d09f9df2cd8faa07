// Debian package of a staged release (scripts/release/build.mjs --deb), built with dpkg-deb.
//
// Layout: the release in /opt/edgewise/releases/<version>/ (the OTA layout: OTA later adds other
// releases beside it and swaps /opt/edgewise/current), the units in /lib/systemd/system, the
// rollback helper in /usr/lib/edgewise, the CLI as /usr/bin/edgewise. postinst runs the release's
// own scripts/install.sh --packaged (user, directories, config from an example when absent,
// current -> this release, systemctl), so the .deb and install.sh make the same system.
// Config, credentials, stored data and logs survive upgrade and remove; only purge deletes them.
import { chmodSync, cpSync, lstatSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import path from 'node:path';
import { ARCHES } from './arch.mjs';

const MAINTAINER = 'edgewise maintainers <edgewise@users.noreply.github.com>';

const postinst = (version) => `#!/bin/sh
set -e
if [ "$1" = configure ]; then
  # user, /etc/edgewise (config from examples/config/raspberry-pi.yaml unless one exists), state
  # directories, current -> releases/${version}, daemon-reload, enable --now (when systemd runs)
  /opt/edgewise/releases/${version}/scripts/install.sh --packaged \${EDGEWISE_EXAMPLE:+--example "$EDGEWISE_EXAMPLE"}
fi
exit 0
`;

const prerm = () => `#!/bin/sh
set -e
if [ "$1" = remove ] && [ -d /run/systemd/system ] && command -v deb-systemd-invoke >/dev/null; then
  deb-systemd-invoke stop edgewise.service edgewise-rollback.service >/dev/null 2>&1 || true
fi
if [ "$1" = remove ] && command -v deb-systemd-helper >/dev/null; then
  deb-systemd-helper disable edgewise.service >/dev/null 2>&1 || true
fi
exit 0
`;

const postrm = (version) => `#!/bin/sh
set -e
case "$1" in
  remove)
    # dpkg removed releases/${version}; the releases OTA installed and current go with the app.
    # /etc/edgewise and /var/lib/edgewise (unsent data) stay until purge.
    rm -rf /opt/edgewise
    [ -d /run/systemd/system ] && systemctl daemon-reload >/dev/null 2>&1 || true
    ;;
  purge)
    rm -rf /opt/edgewise /etc/edgewise /var/lib/edgewise /var/log/edgewise
    if getent passwd edgewise >/dev/null; then userdel edgewise >/dev/null 2>&1 || true; fi
    if getent group edgewise >/dev/null; then groupdel edgewise >/dev/null 2>&1 || true; fi
    [ -d /run/systemd/system ] && systemctl daemon-reload >/dev/null 2>&1 || true
    ;;
esac
exit 0
`;

// Each override says why the tag does not apply to an OTA-updated agent (lintian's own words for
// the tags; see docs/hardware.md "Debian package").
const OVERRIDES = `# /opt/edgewise is the OTA layout (releases/<version> + current) that the agent swaps itself,
# atomically, when it updates over the air; dpkg-owned /usr cannot be rewritten by the service
# (FHS 3.13: /opt is for add-on application software packages).
edgewise: dir-or-file-in-opt [opt/edgewise/*]
# The release is one unit (app + production node_modules + its pinned Node runtime) that OTA
# replaces whole, on vehicles that have no Debian Node.js: the Node binary and the npm packages are
# upstream builds shipped unmodified, run by the release's own runtime/bin/node.
edgewise: missing-dep-for-interpreter node (does not satisfy nodejs:any) [opt/edgewise/releases/*]
edgewise: hardening-no-pie [opt/edgewise/releases/*/runtime/bin/node]
edgewise: unstripped-binary-or-object [opt/edgewise/releases/*/runtime/bin/node]
edgewise: embedded-library zlib [opt/edgewise/releases/*/runtime/bin/node]
edgewise: script-not-executable [opt/edgewise/releases/*/node_modules/*]
# The CLI documents itself (edgewise --help, edgewise <command> --help) and in README.md.
edgewise: no-manual-page [usr/bin/edgewise]
edgewise: embedded-javascript-library please use * [opt/edgewise/releases/*/node_modules/*]
edgewise: package-contains-eslint-config-file [opt/edgewise/releases/*/node_modules/*]
edgewise: privacy-breach-generic * [opt/edgewise/releases/*/node_modules/*]
# A maintainer script of aws-crt's own repository, shipped in its npm package; never run.
edgewise: python3-script-but-no-python3-dep python3 (does not satisfy python3:any | python3-minimal:any) [opt/edgewise/releases/*/node_modules/aws-crt/format-check.py]
`;

/** Build <out>/edgewise_<version>_<debarch>.deb from a staged release; returns its path. */
function kib(dir) {
  let total = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    if (e.name === 'DEBIAN') continue;
    const p = path.join(dir, e.name);
    total += e.isDirectory() ? kib(p) : 1 + Math.ceil(lstatSync(p).size / 1024);
  }
  return total;
}

export function buildDeb({ staging, version, arch, out, run }) {
  const debArch = ARCHES[arch].deb;
  const root = path.join(out, `.deb-${version}-${arch}`);
  rmSync(root, { recursive: true, force: true });
  const rel = path.join(root, 'opt/edgewise/releases', version);
  mkdirSync(rel, { recursive: true });
  cpSync(staging, rel, { recursive: true, verbatimSymlinks: true });
  for (const d of ['lib/systemd/system', 'usr/lib/edgewise', 'usr/bin', 'usr/share/doc/edgewise', 'usr/share/lintian/overrides', 'DEBIAN']) mkdirSync(path.join(root, d), { recursive: true });
  cpSync(path.join(staging, 'systemd/edgewise.service'), path.join(root, 'lib/systemd/system/edgewise.service'));
  cpSync(path.join(staging, 'systemd/edgewise-rollback.service'), path.join(root, 'lib/systemd/system/edgewise-rollback.service'));
  cpSync(path.join(staging, 'systemd/edgewise-rollback.sh'), path.join(root, 'usr/lib/edgewise/edgewise-rollback'));
  chmodSync(path.join(root, 'usr/lib/edgewise/edgewise-rollback'), 0o755);
  writeFileSync(path.join(root, 'usr/bin/edgewise'), '#!/bin/sh\n# edgewise CLI of the installed release (Debian package)\nexec /opt/edgewise/current/runtime/bin/node /opt/edgewise/current/dist/cli/main.js "$@"\n');
  chmodSync(path.join(root, 'usr/bin/edgewise'), 0o755);
  writeFileSync(
    path.join(root, 'usr/share/doc/edgewise/copyright'),
    `Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\nUpstream-Name: edgewise\n\nFiles: *\nCopyright: 2026 edgewise contributors\nLicense: Apache-2.0\n On Debian systems the full text is in /usr/share/common-licenses/Apache-2.0.\n\nFiles: opt/edgewise/releases/*/node_modules/* opt/edgewise/releases/*/runtime/*\nCopyright: their respective authors (see each package's own licence file)\nLicense: various (MIT, ISC, Apache-2.0, BSD); Node.js: MIT and bundled licences in runtime/LICENSE\n`,
  );
  const date = new Date(Number(process.env.SOURCE_DATE_EPOCH ?? Math.floor(Date.now() / 1000)) * 1000).toUTCString().replace('GMT', '+0000');
  writeFileSync(path.join(root, 'usr/share/doc/edgewise/changelog.gz'), gzipSync(`edgewise (${version}) stable; urgency=medium\n\n  * Release ${version}.\n\n -- ${MAINTAINER}  ${date}\n`, { level: 9 }));
  writeFileSync(path.join(root, 'usr/share/lintian/overrides/edgewise'), OVERRIDES);
  // Installed-Size in KiB, as dpkg counts it (file sizes rounded up to 1 KiB each).
  const du = kib(root);
  const control = [
    'Package: edgewise',
    `Version: ${version}`,
    `Architecture: ${debArch}`,
    `Maintainer: ${MAINTAINER}`,
    ...(du ? [`Installed-Size: ${du}`] : []),
    'Depends: libc6 (>= 2.28), passwd, systemd',
    'Suggests: can-utils, mosquitto',
    'Section: net',
    'Priority: optional',
    'Description: vehicle edge agent: CAN/OBD decode, campaigns, AWS IoT upload',
    ' edgewise reads CAN/CAN FD (SocketCAN), recorded candump logs and OBD-II,',
    ' decodes them with DBC files, runs FleetWise-compatible collection',
    ' campaigns, buffers batches in LevelDB while offline and uploads them to',
    ' AWS IoT Core over MQTT 5 with mutual TLS. It takes IoT Jobs, shadow',
    ' updates and signed OTA updates of itself, and brings its own Node.js.',
    '',
  ].join('\n');
  writeFileSync(path.join(root, 'DEBIAN/control'), control);
  for (const [name, text] of [['postinst', postinst(version)], ['prerm', prerm()], ['postrm', postrm(version)]]) {
    writeFileSync(path.join(root, 'DEBIAN', name), text);
    chmodSync(path.join(root, 'DEBIAN', name), 0o755);
  }
  const deb = path.join(out, `edgewise_${version}_${debArch}.deb`);
  run('dpkg-deb', ['--root-owner-group', '-Zxz', '-z2', '--build', root, deb], out);
  rmSync(root, { recursive: true, force: true });
  return deb;
}
