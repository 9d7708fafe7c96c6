// A counting TCP proxy in front of PostgreSQL: every migrator and driver is counted the same way, at the
// wire, whatever its client library. It reads the frontend messages (client → server) and counts
//   connections  new TCP connections (a cold boot opens at least one)
//   queries      Query ('Q', simple protocol: one message, possibly several statements) and
//                Execute ('E', extended protocol: one per statement, pipelined or not)
// Timings are never taken through the proxy: it is used in a separate counting pass only.
import { createServer, connect } from 'node:net'

const SSL_REQUEST = 80877103
const GSSENC_REQUEST = 80877104
const CANCEL_REQUEST = 80877102

export async function countingProxy(upstreamUrl) {
  const up = new URL(upstreamUrl)
  const host = up.hostname || '127.0.0.1'
  const port = Number(up.port || 5432)
  const counts = { connections: 0, queries: 0, simple: 0, execute: 0 }
  const sockets = new Set()

  const server = createServer((client) => {
    counts.connections++
    const upstream = connect(port, host)
    sockets.add(client)
    sockets.add(upstream)
    let buf = Buffer.alloc(0)
    let typed = false
    client.on('data', (chunk) => {
      upstream.write(chunk)
      buf = buf.length ? Buffer.concat([buf, chunk]) : chunk
      for (;;) {
        if (!typed) {
          if (buf.length < 8) break
          const len = buf.readInt32BE(0)
          if (buf.length < len) break
          const code = buf.readInt32BE(4)
          if (code !== SSL_REQUEST && code !== GSSENC_REQUEST && code !== CANCEL_REQUEST) typed = true
          buf = buf.subarray(len)
        } else {
          if (buf.length < 5) break
          const len = buf.readInt32BE(1)
          if (buf.length < len + 1) break
          const type = String.fromCharCode(buf[0])
          if (type === 'Q') counts.simple++
          else if (type === 'E') counts.execute++
          buf = buf.subarray(len + 1)
        }
      }
      counts.queries = counts.simple + counts.execute
    })
    upstream.pipe(client)
    const end = () => {
      client.destroy()
      upstream.destroy()
      sockets.delete(client)
      sockets.delete(upstream)
    }
    client.on('error', end).on('close', end)
    upstream.on('error', end).on('close', end)
  })
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
  const proxied = new URL(upstreamUrl)
  proxied.hostname = '127.0.0.1'
  proxied.port = String(server.address().port)
  return {
    /** The same database URL, through the proxy. */
    url: (database) => {
      const u = new URL(proxied)
      if (database) u.pathname = `/${database}`
      return u.toString()
    },
    snapshot: () => ({ ...counts }),
    async close() {
      for (const s of sockets) s.destroy()
      await new Promise((resolve) => server.close(resolve))
    },
  }
}

/**
 * The same for MySQL/MariaDB: client → server packets are a 3-byte length, a sequence number and the payload.
 * A command starts a new sequence (0): COM_QUERY (0x03, text protocol; one per round trip) and COM_STMT_EXECUTE
 * (0x17, prepared statements) are counted as queries. No TLS (mysql2 only uses it when told).
 */
export async function countingMysqlProxy(upstreamUrl) {
  const up = new URL(upstreamUrl)
  const host = up.hostname || '127.0.0.1'
  const port = Number(up.port || 3306)
  const counts = { connections: 0, queries: 0, simple: 0, execute: 0 }
  const sockets = new Set()
  const server = createServer((client) => {
    counts.connections++
    const upstream = connect(port, host)
    sockets.add(client)
    sockets.add(upstream)
    let buf = Buffer.alloc(0)
    client.on('data', (chunk) => {
      upstream.write(chunk)
      buf = buf.length ? Buffer.concat([buf, chunk]) : chunk
      while (buf.length >= 4) {
        const len = buf.readUIntLE(0, 3)
        if (buf.length < len + 4) break
        if (buf[3] === 0 && len > 0) {
          if (buf[4] === 0x03) counts.simple++
          else if (buf[4] === 0x17) counts.execute++
        }
        buf = buf.subarray(len + 4)
      }
      counts.queries = counts.simple + counts.execute
    })
    upstream.pipe(client)
    const end = () => {
      client.destroy()
      upstream.destroy()
      sockets.delete(client)
      sockets.delete(upstream)
    }
    client.on('error', end).on('close', end)
    upstream.on('error', end).on('close', end)
  })
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
  const proxied = new URL(upstreamUrl)
  proxied.hostname = '127.0.0.1'
  proxied.port = String(server.address().port)
  return {
    url: (database) => {
      const u = new URL(proxied)
      if (database) u.pathname = `/${database}`
      return u.toString()
    },
    snapshot: () => ({ ...counts }),
    async close() {
      for (const s of sockets) s.destroy()
      await new Promise((resolve) => server.close(resolve))
    },
  }
}
