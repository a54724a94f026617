// peer.mjs: checks nvskit's simulated ROM loader (loadersim) with an independent client,
// esptool-js from npm, over TCP. Usage:
//   node peer.mjs HOST:PORT IMAGE.bin OFFSET EXPECTED_CHIP
// It connects without a reset, detects the chip, writes IMAGE compressed in ROM mode (no stub),
// verifies it with SPI_FLASH_MD5, reads the first 256 bytes back with READ_FLASH_SLOW, and
// exits 0 when everything matched. Progress goes to stderr; the last stdout line is "OK ...".
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { ESPLoader, Transport } from "esptool-js";
import { TCPSerialPort, terminal } from "./tcpport.mjs";

const [addr, imagePath, offsetText, wantChip] = process.argv.slice(2);
if (!addr || !imagePath || !offsetText || !wantChip) {
  console.error("usage: node peer.mjs HOST:PORT IMAGE.bin OFFSET EXPECTED_CHIP");
  process.exit(2);
}
const [host, portText] = addr.split(":");
const offset = Number(offsetText);
const image = new Uint8Array(readFileSync(imagePath));

function hex(b) {
  return Buffer.from(b).toString("hex");
}

async function main() {
  const port = new TCPSerialPort(host, Number(portText));
  const transport = new Transport(port, false);
  const loader = new ESPLoader({ transport, baudrate: 115200, romBaudrate: 115200, terminal });
  await loader.detectChip("no_reset");
  const chip = loader.chip.CHIP_NAME;
  if (chip !== wantChip) throw new Error(`detected ${chip}, want ${wantChip}`);
  // esptool-js's flashSpiAttach sends the stub's 4-byte form (esptool-js always runs the stub);
  // a ROM loader wants the config word plus 4 zero bytes, as esptool sends it without a stub.
  await loader.checkCommand("attach SPI flash", 0x0d, new Uint8Array(8));
  const md5 = createHash("md5").update(image).digest("hex");
  await loader.writeFlash({
    fileArray: [{ data: image, address: offset }],
    flashMode: "keep",
    flashFreq: "keep",
    flashSize: "keep",
    eraseAll: false,
    compress: true,
  });
  // The ROM answers SPI_FLASH_MD5 with 32 ASCII hex characters; esptool-js (built for the
  // stub's 16 raw bytes) hex-encodes them again, so undo that when the answer is 64 long.
  let flashMD5 = await loader.flashMd5sum(offset, image.length);
  if (flashMD5.length === 64) flashMD5 = Buffer.from(flashMD5, "hex").toString("ascii");
  if (flashMD5 !== md5) throw new Error(`flash MD5 ${flashMD5}, image MD5 ${md5}`);
  // esptool-js reads flash only through the stub; READ_FLASH_SLOW (0x0E) is the ROM's read,
  // sent here through esptool-js's own command framing and reply parsing.
  let back = new Uint8Array(0);
  for (let a = offset; a < offset + 256; a += 64) {
    const pkt = new Uint8Array(8);
    new DataView(pkt.buffer).setUint32(0, a, true);
    new DataView(pkt.buffer).setUint32(4, 64, true);
    const data = await loader.checkCommand("read flash slow", 0x0e, pkt, 0, 64);
    const joined = new Uint8Array(back.length + data.length);
    joined.set(back);
    joined.set(data, back.length);
    back = joined;
  }
  if (hex(back) !== hex(image.slice(0, 256))) throw new Error("read-back differs from the image");
  await transport.disconnect();
  console.log(`OK ${chip} md5 ${flashMD5}`);
}

main().then(
  () => process.exit(0),
  (e) => {
    console.error("peer failed:", e && e.stack ? e.stack : e);
    process.exit(1);
  },
);
