// LZ4 frame decompression for kafkajs, which ships only gzip. clickgate's producer compresses with lz4,
// so the e2e reader needs this to read its records back. Decoding only; tests never produce lz4.
import kafkajs from 'kafkajs'

const { CompressionCodecs, CompressionTypes } = kafkajs

const MAGIC = 0x184d2204

/** Decode one LZ4 block (the sequence format) from src[start, end) onto `out`. */
function block(src, start, end, out) {
  let i = start
  while (i < end) {
    const token = src[i++]
    let lit = token >> 4
    if (lit === 15) {
      let b
      do lit += b = src[i++]
      while (b === 255)
    }
    for (let k = 0; k < lit; k++) out.push(src[i++])
    if (i >= end) break // the last sequence carries literals only
    const offset = src[i] | (src[i + 1] << 8)
    i += 2
    if (offset === 0 || offset > out.length) throw new Error('lz4: bad match offset')
    let len = token & 15
    if (len === 15) {
      let b
      do len += b = src[i++]
      while (b === 255)
    }
    len += 4
    // byte by byte: a match may overlap the bytes it is producing
    for (let k = 0, from = out.length - offset; k < len; k++) out.push(out[from + k])
  }
}

/** Decode a complete LZ4 frame (possibly several concatenated) into a Buffer. */
export function lz4Decode(buf) {
  const out = []
  let i = 0
  while (i < buf.length) {
    if (buf.readUInt32LE(i) !== MAGIC) throw new Error('lz4: not an LZ4 frame')
    const flg = buf[i + 4]
    i += 6 // magic, FLG, BD
    if (flg & 0x08) i += 8 // content size
    if (flg & 0x01) i += 4 // dictionary id
    i += 1 // header checksum
    for (;;) {
      const size = buf.readUInt32LE(i)
      i += 4
      if (size === 0) break // end mark
      const n = size & 0x7fffffff
      if (size & 0x80000000) for (let k = 0; k < n; k++) out.push(buf[i + k])
      else block(buf, i, i + n, out)
      i += n
      if (flg & 0x10) i += 4 // block checksum
    }
    if (flg & 0x04) i += 4 // content checksum
  }
  return Buffer.from(out)
}

CompressionCodecs[CompressionTypes.LZ4] = () => ({
  compress: async () => {
    throw new Error('lz4 compression is not supported by the test reader')
  },
  decompress: async (buf) => lz4Decode(buf),
})
