'use strict'
// MQTT 5.0 enhanced authentication (AUTH packets) against mosquitto 2.0.11
// loaded with challenge_auth_plugin.so.  Run by pcaps/record.py:
//   node enhanced_auth.js <port>
// Three connections, one after the other:
//   1. lab-v5-enhauth-ok    CONNECT -> AUTH 0x18 -> AUTH 0x18 -> CONNACK 0,
//                           PUBLISH QoS 1, re-authentication
//                           (AUTH 0x19 -> AUTH 0x18 -> AUTH 0x18 -> AUTH 0x00),
//                           DISCONNECT
//   2. lab-v5-enhauth-bad   wrong proof, refused by the broker
//   3. lab-v5-enhauth-meth  unknown method, refused ("Bad authentication method")

const mqtt = require('mqtt')
const { UniqueMessageIdProvider } = mqtt
const { sleep, fail } = require('./lablib')

const port = Number(process.argv[2] || 1883)
const METHOD = 'MQTTLENS-CHALLENGE'

function authPacket (reasonCode, data) {
  return {
    cmd: 'auth',
    reasonCode,
    properties: {
      authenticationMethod: METHOD,
      authenticationData: Buffer.from(data)
    }
  }
}

function connectWithProof (clientId, method, proof) {
  const client = mqtt.connect({
    host: '127.0.0.1',
    port,
    protocolVersion: 5,
    clientId,
    clean: true,
    keepalive: 60,
    reconnectPeriod: 0,
    connectTimeout: 5000,
    messageIdProvider: new UniqueMessageIdProvider(),
    properties: {
      authenticationMethod: method,
      authenticationData: Buffer.from('client-first')
    }
  })
  const seen = []
  client.handleAuth = (packet, callback) => {
    const data = packet.properties && packet.properties.authenticationData
    seen.push(`AUTH rc=0x${packet.reasonCode.toString(16)} data=${data ? data.toString() : ''}`)
    if (packet.reasonCode === 0x18) {
      callback(null, authPacket(0x18, proof))
    } else {
      callback(null)
    }
  }
  return { client, seen }
}

function waitEvent (emitter, names, ms) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`timeout waiting for ${names}`)), ms)
    for (const name of names) {
      emitter.once(name, (arg) => {
        clearTimeout(timer)
        resolve({ name, arg })
      })
    }
  })
}

async function main () {
  // 1. successful exchange, then re-authentication
  const ok = connectWithProof('lab-v5-enhauth-ok', METHOD, 'client-proof')
  const r1 = await waitEvent(ok.client, ['connect', 'error'], 5000)
  if (r1.name !== 'connect') fail(`enhanced auth refused: ${r1.arg}`)
  const connack = r1.arg
  const finalData = connack.properties && connack.properties.authenticationData
  console.log(`  ok: CONNACK rc=${connack.reasonCode} data=${finalData ? finalData.toString() : ''}; ${ok.seen.join('; ')}`)
  await sleep(200)
  await ok.client.publishAsync('lab/enhauth/status', 'authenticated by challenge', { qos: 1 })
  await sleep(200)
  ok.seen.length = 0
  ok.client._sendPacket(authPacket(0x19, 'client-first'))
  await sleep(500)
  console.log(`  re-auth: ${ok.seen.join('; ')}`)
  if (!ok.seen.some((s) => s.startsWith('AUTH rc=0x0 '))) fail('re-authentication did not finish with AUTH 0x00')
  await ok.client.endAsync()
  await sleep(300)

  // 2. wrong proof
  const bad = connectWithProof('lab-v5-enhauth-bad', METHOD, 'wrong-proof')
  const r2 = await waitEvent(bad.client, ['connect', 'error'], 5000)
  if (r2.name === 'connect') fail('wrong proof was accepted')
  console.log(`  bad proof: ${r2.arg.message} (code ${r2.arg.code}); ${bad.seen.join('; ')}`)
  bad.client.end(true)
  await sleep(300)

  // 3. method the broker does not know
  const meth = connectWithProof('lab-v5-enhauth-meth', 'SCRAM-SHA-256', 'client-proof')
  const r3 = await waitEvent(meth.client, ['connect', 'error'], 5000)
  if (r3.name === 'connect') fail('unknown method was accepted')
  console.log(`  unknown method: ${r3.arg.message} (code ${r3.arg.code})`)
  meth.client.end(true)
  await sleep(200)
}

main().then(() => process.exit(0), (err) => fail(err.stack || String(err)))
