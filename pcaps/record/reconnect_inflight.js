'use strict'
// A persistent mqtt.js session whose connection is reset (TCP RST) with a
// QoS 1 and a QoS 2 PUBLISH in flight: the broker's PUBACK/PUBREC are never
// read; mqtt.js reconnects by itself and re-sends both from its outgoing
// store on the resumed session.
// Run by pcaps/record.py:   node reconnect_inflight.js <port> <protocol version 4|5>

const mqtt = require('mqtt')
const { sleep, fail } = require('./lablib')

const port = Number(process.argv[2] || 1883)
const version = Number(process.argv[3] || 4)
const tag = version === 5 ? 'v5' : 'v311'

function once (emitter, event) {
  return new Promise((resolve) => emitter.once(event, resolve))
}

async function main () {
  const options = {
    host: '127.0.0.1',
    port,
    protocolVersion: version,
    clientId: `lab-resume-js-${tag}`,
    clean: false,
    keepalive: 60,
    reconnectPeriod: 300,
    connectTimeout: 5000
  }
  if (version === 5) options.properties = { sessionExpiryInterval: 300 }
  const client = mqtt.connect(options)
  client.on('error', (err) => fail(err.message))
  client.on('connect', (ack) => console.log(`  lab-resume-js-${tag}: CONNACK session present ${ack.sessionPresent ? 1 : 0}`))
  await once(client, 'connect')
  await sleep(150)
  const topic = `lab/resume/js/${tag}`
  const payloads = ['qos 1, in flight when the connection is reset', 'qos 2, in flight when the connection is reset']
  // PUBLISH = fixed header (2) + topic (2 + n) + packet id (2) [+ property length (1)] + payload
  const expected = payloads.reduce((n, p) => n + 2 + 2 + topic.length + 2 + (version === 5 ? 1 : 0) + p.length, 0)
  const before = client.stream.bytesWritten
  const done = Promise.all(payloads.map((p, i) => client.publishAsync(topic, p, { qos: i + 1 })))
  // mqtt-packet writes on a later tick (it uncorks there): as soon as both
  // PUBLISHes are written, before the event loop polls the socket again, the
  // socket stops reading, so the broker's PUBACK and PUBREC are never read.
  let ticks = 0
  const resetWhenWritten = () => {
    if (client.stream.bytesWritten - before >= expected) {
      // stop reading (the answers stay in the kernel's buffer), give the
      // broker time to answer, then reset
      client.stream.pause()
      setTimeout(() => {
        client.stream.resetAndDestroy()
        console.log(`  lab-resume-js-${tag}: connection reset with both flows in flight`)
      }, 200)
    } else if (++ticks > 10000) {
      fail(`only ${client.stream.bytesWritten - before} of ${expected} bytes written`)
    } else {
      process.nextTick(resetWhenWritten)
    }
  }
  process.nextTick(resetWhenWritten)
  await once(client, 'close')
  await once(client, 'connect')
  await done
  console.log(`  lab-resume-js-${tag}: both re-sent flows completed`)
  await sleep(150)
  await client.endAsync()
}

main().catch((err) => fail(err.stack || String(err)))
