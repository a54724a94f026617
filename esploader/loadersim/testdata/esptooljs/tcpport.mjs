// tcpport.mjs: a Web Serial SerialPort surface backed by a TCP socket, for esptool-js's
// Transport: open/close, readable/writable web streams, setSignals, getInfo and setBaudRate
// (no-ops: a socket has no modem lines and no baud rate).
import net from "node:net";

export class TCPSerialPort {
  constructor(host, port) {
    this.host = host;
    this.port = port;
    this.readable = null;
    this.writable = null;
  }
  async open() {
    const sock = await new Promise((resolve, reject) => {
      const s = net.connect({ host: this.host, port: this.port }, () => resolve(s));
      s.once("error", reject);
    });
    sock.setNoDelay(true);
    this.sock = sock;
    this.readable = new ReadableStream({
      start(ctrl) {
        sock.on("data", (d) => ctrl.enqueue(new Uint8Array(d)));
        sock.on("end", () => { try { ctrl.close(); } catch {} });
        sock.on("error", (e) => { try { ctrl.error(e); } catch {} });
      },
      cancel() {},
    });
    this.writable = new WritableStream({
      write(chunk) {
        return new Promise((resolve, reject) => sock.write(chunk, (e) => (e ? reject(e) : resolve())));
      },
    });
  }
  async close() {
    if (this.sock) this.sock.destroy();
    this.readable = null;
    this.writable = null;
  }
  async setSignals() {}
  async setBaudRate() {}
  getInfo() {
    return {};
  }
}

export const terminal = {
  clean() {},
  writeLine(s) { process.stderr.write(s + "\n"); },
  write(s) { process.stderr.write(s); },
};
