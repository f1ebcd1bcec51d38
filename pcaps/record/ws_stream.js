'use strict'
// A Duplex stream over a `ws` WebSocket that sends one WebSocket message per
// MQTT packet.  mqtt-packet writes a packet in several small pieces between
// cork() and uncork(); ws.createWebSocketStream() sends every piece as its own
// WebSocket message, while this stream gathers the corked pieces (_writev)
// into one message, as browsers' mqtt.js transport does.
// Used by ws_broker.mjs (path /mqtt) and ws_client.js (framed mode).

const { Duplex } = require('node:stream')

function packetStream (socket) {
  // a client socket may still be connecting when MQTT writes CONNECT
  const send = (data, callback) => {
    if (socket.readyState === socket.CONNECTING) {
      socket.once('open', () => socket.send(data, { binary: true }, callback))
    } else {
      socket.send(data, { binary: true }, callback)
    }
  }
  const stream = new Duplex({
    write (chunk, encoding, callback) {
      send(chunk, callback)
    },
    writev (chunks, callback) {
      send(Buffer.concat(chunks.map((c) => c.chunk)), callback)
    },
    read () {},
    final (callback) {
      socket.close(1000)
      callback()
    },
    destroy (err, callback) {
      if (socket.readyState === socket.OPEN || socket.readyState === socket.CONNECTING) {
        socket.close(1000)
      }
      callback(err)
    }
  })
  socket.binaryType = 'nodebuffer'
  socket.on('message', (data) => stream.push(data))
  socket.on('close', () => stream.push(null))
  socket.on('error', (err) => stream.destroy(err))
  return stream
}

// The same, but every write made in one turn of the event loop goes out in
// one WebSocket message: a burst of MQTT packets shares a message (as
// brokers and gateways that batch their writes do).
function packedStream (socket) {
  const stream = packetStream(socket)
  const send = stream._write.bind(stream)
  let pending = []
  const flush = () => {
    const batch = pending
    pending = []
    send(Buffer.concat(batch.map((p) => p.chunk)), 'buffer', (err) => batch.forEach((p) => p.callback(err)))
  }
  stream._write = (chunk, encoding, callback) => {
    if (!pending.length) setImmediate(flush)
    pending.push({ chunk, callback })
  }
  stream._writev = (chunks, callback) => {
    const chunk = Buffer.concat(chunks.map((c) => c.chunk))
    stream._write(chunk, 'buffer', callback)
  }
  return stream
}

module.exports = { packetStream, packedStream }
