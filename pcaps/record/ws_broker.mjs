// aedes (MQTT 3.1/3.1.1 broker) behind a WebSocket server on 127.0.0.1:<port>,
// used by pcaps/record.py for the MQTT-over-WebSocket captures.
//   node ws_broker.mjs <port>
// Path /mqtt: one WebSocket message per MQTT packet (ws_stream.js).
// Path /mqtt-split: ws.createWebSocketStream() as in aedes' documentation,
//   which sends every piece that mqtt-packet writes as its own message.
// Prints "listening" once the server accepts connections and shuts down
// cleanly on SIGTERM or SIGINT.
import { createServer } from 'node:http'
import { createRequire } from 'node:module'
import { Aedes } from 'aedes'
import { WebSocketServer, createWebSocketStream } from 'ws'

const require = createRequire(import.meta.url)
const { packetStream } = require('./ws_stream.js')

const port = Number(process.argv[2] || 8080)
const broker = await Aedes.createBroker({ id: 'mqttlens-lab-aedes' })
const httpServer = createServer((req, res) => {
  res.writeHead(426, { 'Content-Type': 'text/plain' })
  res.end('WebSocket (subprotocol "mqtt") only\n')
})
const wss = new WebSocketServer({
  server: httpServer,
  perMessageDeflate: false,
  // Agree on the "mqtt" subprotocol that MQTT clients offer.
  handleProtocols: (offered) => (offered.has('mqtt') ? 'mqtt' : false)
})

wss.on('connection', (socket, req) => {
  const split = req.url === '/mqtt-split'
  broker.handle(split ? createWebSocketStream(socket) : packetStream(socket), req)
})
broker.on('client', (client) => console.log(`client connected: ${client.id}`))
broker.on('clientDisconnect', (client) => console.log(`client disconnected: ${client.id}`))

let stopping = false
function stop () {
  if (stopping) return
  stopping = true
  wss.close()
  broker.close(() => httpServer.close(() => process.exit(0)))
  setTimeout(() => process.exit(0), 2000).unref()
}
process.on('SIGTERM', stop)
process.on('SIGINT', stop)

httpServer.listen(port, '127.0.0.1', () => console.log('listening'))
