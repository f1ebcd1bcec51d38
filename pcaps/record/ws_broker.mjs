// aedes (MQTT 3.1/3.1.1 broker) behind a WebSocket server on 127.0.0.1:<port>,
// used by pcaps/record.py for the MQTT-over-WebSocket captures.
//   node ws_broker.mjs <port> [<wss port> <certificate> <key>]
// With a wss port, the same server also listens with TLS there (wss://).
// Path /mqtt: one WebSocket message per MQTT packet (ws_stream.js).
// Path /mqtt-packed: the MQTT packets of one event-loop turn in one message.
// Path /mqtt-split: ws.createWebSocketStream() as in aedes' documentation,
//   which sends every piece that mqtt-packet writes as its own message.
// Prints "listening" once the server accepts connections and shuts down
// cleanly on SIGTERM or SIGINT.
import { createServer } from 'node:http'
import { createServer as createTlsServer } from 'node:https'
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { Aedes } from 'aedes'
import { WebSocketServer, createWebSocketStream } from 'ws'

const require = createRequire(import.meta.url)
const { packetStream, packedStream } = require('./ws_stream.js')

const port = Number(process.argv[2] || 8080)
const wssPort = process.argv[3] ? Number(process.argv[3]) : null
const broker = await Aedes.createBroker({ id: 'mqttlens-lab-aedes' })
function refuse (req, res) {
  res.writeHead(426, { 'Content-Type': 'text/plain' })
  res.end('WebSocket (subprotocol "mqtt") only\n')
}
const httpServer = createServer(refuse)
const servers = [httpServer]
if (wssPort) {
  servers.push(createTlsServer({ cert: readFileSync(process.argv[4]), key: readFileSync(process.argv[5]) }, refuse))
}

function handle (socket, req) {
  if (req.url === '/mqtt-split') broker.handle(createWebSocketStream(socket), req)
  else if (req.url === '/mqtt-packed') broker.handle(packedStream(socket), req)
  else broker.handle(packetStream(socket), req)
}
const wsServers = servers.map((server) => {
  const wss = new WebSocketServer({
    server,
    perMessageDeflate: false,
    // Agree on the "mqtt" subprotocol that MQTT clients offer.
    handleProtocols: (offered) => (offered.has('mqtt') ? 'mqtt' : false)
  })
  wss.on('connection', handle)
  return wss
})
broker.on('client', (client) => console.log(`client connected: ${client.id}`))
broker.on('clientDisconnect', (client) => console.log(`client disconnected: ${client.id}`))

let stopping = false
function stop () {
  if (stopping) return
  stopping = true
  wsServers.forEach((wss) => wss.close())
  broker.close(() => servers.forEach((server) => server.close()))
  setTimeout(() => process.exit(0), 300).unref()
  setTimeout(() => process.exit(0), 2000).unref()
}
process.on('SIGTERM', stop)
process.on('SIGINT', stop)

let listening = 0
servers.forEach((server, i) => server.listen(i ? wssPort : port, '127.0.0.1', () => {
  if (++listening === servers.length) console.log('listening')
}))
