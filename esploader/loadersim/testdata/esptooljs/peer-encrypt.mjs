// peer-encrypt.mjs: checks the simulated ROM loader's encrypted write with an independent
// client, esptool-js from npm, over TCP. Usage:
//   node peer-encrypt.mjs HOST:PORT IMAGE.bin OFFSET EXPECTED_CHIP
// esptool-js 0.7.0 always sends 0 in FLASH_BEGIN's encrypted word on the ROM path (its source
// says "Support encrypted" is still to do), so this script sends FLASH_BEGIN with the word set to
// 1 through esptool-js's own command framing (checkCommand) and the data blocks with its
// flashBlock, as esptool does for --encrypt without a stub: uncompressed 0x400 blocks, the last
// padded with 0xFF. It prints the chip's MD5 of the written range; the Go test compares the
// flash with espsecure's ciphertext. The last stdout line is "OK CHIP MD5".
import { readFileSync } from "node:fs";
import { ESPLoader, Transport } from "esptool-js";
import { TCPSerialPort, terminal } from "./tcpport.mjs";

const [addr, imagePath, offsetText, wantChip] = process.argv.slice(2);
if (!addr || !imagePath || !offsetText || !wantChip) {
  console.error("usage: node peer-encrypt.mjs HOST:PORT IMAGE.bin OFFSET EXPECTED_CHIP");
  process.exit(2);
}
const [host, portText] = addr.split(":");
const offset = Number(offsetText);
const image = new Uint8Array(readFileSync(imagePath));
const BLOCK = 0x400;

function words(...ws) {
  const b = new Uint8Array(4 * ws.length);
  const v = new DataView(b.buffer);
  ws.forEach((w, i) => v.setUint32(4 * i, w, true));
  return b;
}

async function main() {
  const transport = new Transport(new TCPSerialPort(host, Number(portText)), false);
  const loader = new ESPLoader({ transport, baudrate: 115200, romBaudrate: 115200, terminal });
  await loader.detectChip("no_reset");
  const chip = loader.chip.CHIP_NAME;
  if (chip !== wantChip) throw new Error(`detected ${chip}, want ${wantChip}`);
  await loader.checkCommand("attach SPI flash", 0x0d, new Uint8Array(8));
  const blocks = Math.ceil(image.length / BLOCK);
  const padded = new Uint8Array(blocks * BLOCK).fill(0xff);
  padded.set(image);
  // FLASH_BEGIN: erase size, blocks, block size, offset, encrypted = 1.
  await loader.checkCommand("enter encrypted flash download mode", 0x02, words(padded.length, blocks, BLOCK, offset, 1), 0, 0, 3000);
  for (let seq = 0; seq < blocks; seq++) {
    await loader.flashBlock(padded.slice(seq * BLOCK, (seq + 1) * BLOCK), seq, 3000);
  }
  let md5 = await loader.flashMd5sum(offset, padded.length);
  if (md5.length === 64) md5 = Buffer.from(md5, "hex").toString("ascii");
  await transport.disconnect();
  console.log(`OK ${chip} ${md5}`);
}

main().then(
  () => process.exit(0),
  (e) => {
    console.error("peer failed:", e && e.stack ? e.stack : e);
    process.exit(1);
  },
);
