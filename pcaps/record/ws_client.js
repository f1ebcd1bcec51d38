'use strict'
// mqtt.js client over ws:// (WebSocket subprotocol "mqtt") against the aedes
// broker of ws_broker.mjs.  Run by pcaps/record.py:
//   node ws_client.js <port> framed|split|packed
// framed: mqtt.js on a ws_stream.js stream, one WebSocket message per MQTT
//         packet, path /mqtt
// split:  mqtt.js' own Node.js WebSocket transport (ws.createWebSocketStream),
//         every piece of a packet in its own WebSocket message, path /mqtt-split
// packed: mqtt.js on a ws_stream.js packedStream, the packets of one event-loop
//         turn in one WebSocket message (the broker packs the same way),
//         path /mqtt-packed
// One MQTT 3.1.1 connection: CONNECT, SUBSCRIBE lab/ws/#, PUBLISH QoS 0 and
// QoS 1 (both delivered back to the same client), UNSUBSCRIBE, DISCONNECT.

const mqtt = require('mqtt')
const WebSocket = require('ws')
const { UniqueMessageIdProvider } = mqtt
const { sleep, fail } = require('./lablib')
const { packetStream, packedStream } = require('./ws_stream')

const port = Number(process.argv[2] || 8080)
const mode = process.argv[3] || 'framed'

function connect () {
  const options = {
    protocolVersion: 4,
    clientId: `lab-ws-${mode}`,
    clean: true,
    keepalive: 60,
    reconnectPeriod: 0,
    connectTimeout: 5000,
    messageIdProvider: new UniqueMessageIdProvider()
  }
  if (mode === 'split') {
    return mqtt.connectAsync(`ws://127.0.0.1:${port}/mqtt-split`, {
      ...options, wsOptions: { perMessageDeflate: false }
    })
  }
  return new Promise((resolve, reject) => {
    const wrap = mode === 'packed' ? packedStream : packetStream
    const path = mode === 'packed' ? '/mqtt-packed' : '/mqtt'
    const builder = () => wrap(new WebSocket(`ws://127.0.0.1:${port}${path}`, 'mqtt',
      { perMessageDeflate: false }))
    const client = new mqtt.MqttClient(builder, options)
    client.once('connect', () => resolve(client))
    client.once('error', reject)
  })
}

async function main () {
  const client = await connect()
  const received = []
  client.on('message', (topic, payload, packet) => {
    received.push(`${topic} q${packet.qos} ${payload.toString()}`)
  })
  await sleep(150)
  await client.subscribeAsync({ 'lab/ws/#': { qos: 1 } })
  await sleep(150)
  await client.publishAsync('lab/ws/qos0', 'hello over websocket, qos 0', { qos: 0 })
  await sleep(150)
  await client.publishAsync('lab/ws/qos1', 'hello over websocket, qos 1', { qos: 1 })
  await sleep(300)
  if (mode === 'packed') {
    // written in one turn of the event loop: one WebSocket message each way
    await Promise.all([1, 2, 3].map((n) => client.publishAsync('lab/ws/burst', `burst ${n}`, { qos: 0 })))
    await sleep(300)
  }
  await client.unsubscribeAsync('lab/ws/#')
  await sleep(150)
  await client.endAsync()
  await sleep(100)
  console.log(`received ${received.length}: ${received.join(' | ')}`)
  const want = mode === 'packed' ? 5 : 2
  if (received.length !== want) fail(`expected ${want} messages back, got ${received.length}`)
}

main().then(() => process.exit(0), (err) => fail(err.stack || String(err)))
