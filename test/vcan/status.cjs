// Tiny client for the daemon's status socket, for the vcan guest (starting the full CLI costs
// many seconds under an emulated CPU). Prints {source, decode} of the first source as JSON.
//   node status.cjs SOCKET                      once
//   node status.cjs SOCKET state=down [secs]    poll until sources[0].state is `down`
//   node status.cjs SOCKET stable [secs]        poll until frames+dropped stop changing for 2 s
//   node status.cjs SOCKET frames>=N [secs]     poll until sources[0].frames >= N
const net = require('node:net');
const [sock, cond = 'once', secs = '60'] = process.argv.slice(2);
const deadline = Date.now() + Number(secs) * 1000;
function get() {
  return new Promise((resolve) => {
    let s = '';
    const c = net.connect(sock);
    c.on('data', (d) => (s += d));
    c.on('end', () => {
      try {
        const j = JSON.parse(s);
        resolve({ source: j.sources[0], decode: j.decode });
      } catch {
        resolve(undefined);
      }
    });
    c.on('error', () => resolve(undefined));
  });
}
(async () => {
  let last;
  let stableSince = 0;
  for (;;) {
    const st = await get();
    if (cond === 'once' && st) return console.log(JSON.stringify(st));
    if (st) {
      const src = st.source;
      if (cond.startsWith('state=') && src.state === cond.slice(6)) return console.log(JSON.stringify(st));
      if (cond.startsWith('frames>=') && src.frames >= Number(cond.slice(8))) return console.log(JSON.stringify(st));
      if (cond === 'stable') {
        const n = src.frames + (src.dropped ?? 0);
        if (n !== last) {
          last = n;
          stableSince = Date.now();
        } else if (Date.now() - stableSince >= 2000) return console.log(JSON.stringify(st));
      }
    }
    if (Date.now() > deadline) {
      console.log(JSON.stringify({ timeout: cond, last: st ?? null }));
      process.exit(1);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
})();
