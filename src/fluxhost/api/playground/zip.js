// A store-only ZIP writer (no compression: training images are already compressed), enough to
// send a picked folder as the finetune's `file_data`. Classic ZIP, no ZIP64: the upload is far
// below 4 GiB and 65535 entries (the request body limit bounds it), and larger input is refused.

const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

/** CRC-32 (IEEE 802.3, as ZIP and PNG use it) of a Uint8Array. */
export function crc32(bytes) {
  let c = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) c = CRC_TABLE[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

const UTF8_NAMES = 0x0800; // general purpose flag bit 11: names are UTF-8
const VERSION = 20; // 2.0: what a stored member with these fields needs

function dosDateTime(date) {
  const year = Math.min(Math.max(date.getFullYear(), 1980), 2107);
  const time = (date.getHours() << 11) | (date.getMinutes() << 5) | (date.getSeconds() >> 1);
  const day = ((year - 1980) << 9) | ((date.getMonth() + 1) << 5) | date.getDate();
  return [time, day];
}

function checkName(name) {
  if (!name || name.startsWith("/") || name.includes("\\") || name.split("/").includes("..")) {
    throw new Error(`zip: refused entry name ${JSON.stringify(name)}`);
  }
}

function header(size) {
  const buf = new ArrayBuffer(size);
  return [new Uint8Array(buf), new DataView(buf)];
}

/** Local file header (30 bytes + name), fields as APPNOTE 4.3.7 lists them. */
function localHeader(e) {
  const [bytes, v] = header(30 + e.name.length);
  v.setUint32(0, 0x04034b50, true);
  v.setUint16(4, VERSION, true);
  v.setUint16(6, UTF8_NAMES, true);
  v.setUint16(8, 0, true); // method: stored
  v.setUint16(10, e.time, true);
  v.setUint16(12, e.day, true);
  v.setUint32(14, e.crc, true);
  v.setUint32(18, e.data.length, true); // compressed size
  v.setUint32(22, e.data.length, true); // uncompressed size
  v.setUint16(26, e.name.length, true);
  v.setUint16(28, 0, true); // extra field length
  bytes.set(e.name, 30);
  return bytes;
}

/** Central directory header (46 bytes + name), APPNOTE 4.3.12. */
function centralHeader(e) {
  const [bytes, v] = header(46 + e.name.length);
  v.setUint32(0, 0x02014b50, true);
  v.setUint16(4, VERSION, true); // made by: MS-DOS, 2.0
  v.setUint16(6, VERSION, true);
  v.setUint16(8, UTF8_NAMES, true);
  v.setUint16(10, 0, true);
  v.setUint16(12, e.time, true);
  v.setUint16(14, e.day, true);
  v.setUint32(16, e.crc, true);
  v.setUint32(20, e.data.length, true);
  v.setUint32(24, e.data.length, true);
  v.setUint16(28, e.name.length, true);
  // 30 extra length, 32 comment length, 34 disk, 36 internal and 38 external attributes: 0
  v.setUint32(42, e.offset, true);
  bytes.set(e.name, 46);
  return bytes;
}

function endOfCentralDirectory(count, size, offset) {
  const [bytes, v] = header(22);
  v.setUint32(0, 0x06054b50, true);
  v.setUint16(8, count, true); // entries on this disk
  v.setUint16(10, count, true); // entries in all
  v.setUint32(12, size, true);
  v.setUint32(16, offset, true);
  return bytes;
}

/**
 * A ZIP archive of `files` ([{name, data: Uint8Array, date?: Date}]), every member stored.
 * Returns a Uint8Array.
 */
export function zipStore(files) {
  if (files.length > 0xffff) throw new Error(`zip: ${files.length} entries, the limit is 65535`);
  const encoder = new TextEncoder();
  const parts = [];
  const entries = [];
  let offset = 0;
  for (const file of files) {
    checkName(file.name);
    const [time, day] = dosDateTime(file.date || new Date());
    const entry = { name: encoder.encode(file.name), data: file.data, crc: crc32(file.data),
                    time, day, offset };
    const local = localHeader(entry);
    parts.push(local, file.data);
    offset += local.length + file.data.length;
    entries.push(entry);
  }
  const central = entries.map(centralHeader);
  const size = central.reduce((n, c) => n + c.length, 0);
  if (offset + size > 0xffffffff) throw new Error(`zip: ${offset + size} bytes, over 4 GiB`);
  const out = new Uint8Array(offset + size + 22);
  let at = 0;
  for (const part of [...parts, ...central, endOfCentralDirectory(entries.length, size, offset)]) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}
