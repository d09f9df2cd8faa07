// Runs INSIDE the vcan guest: simulated OBD-II ECUs (engine 7E8 + transmission 7E9) answering
// ISO-TP on a raw SocketCAN socket, until killed.
import { DEMO_SIM_TABLE, openSocketCanPort, startIsoTpEcus } from '../../dist/dev.js';

const port = await openSocketCanPort(process.argv[2] ?? 'vcan0');
startIsoTpEcus(port, DEMO_SIM_TABLE);
console.error('obd-ecu: answering on', process.argv[2] ?? 'vcan0');
setInterval(() => undefined, 1 << 30);
