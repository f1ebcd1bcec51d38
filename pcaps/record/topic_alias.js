'use strict'
// MQTT 5.0 topic aliases set by a client (mqtt.js), against mosquitto 2.0.11.
// Run by pcaps/record.py:   node topic_alias.js <port>
// The broker's CONNACK announces Topic Alias Maximum (10 by default);
// mqtt.js then assigns aliases by itself (autoAssignTopicAlias) and reuses
// them (autoUseTopicAlias), sending an empty topic name with the alias.
// One alias is also registered by hand (Topic Alias 7) and then used by hand.

const mqtt = require('mqtt')
const { UniqueMessageIdProvider } = mqtt
const { sleep, fail } = require('./lablib')

const port = Number(process.argv[2] || 1883)

async function main () {
  const client = await mqtt.connectAsync({
    host: '127.0.0.1',
    port,
    protocolVersion: 5,
    clientId: 'lab-v5-alias-pub',
    clean: true,
    keepalive: 60,
    reconnectPeriod: 0,
    connectTimeout: 5000,
    autoAssignTopicAlias: true,
    autoUseTopicAlias: true,
    messageIdProvider: new UniqueMessageIdProvider(),
    properties: { topicAliasMaximum: 4 }
  })
  const max = client.topicAliasSend ? client.topicAliasSend.max : undefined
  console.log(`  CONNACK topic alias maximum (as seen by mqtt.js): ${max}`)
  if (!max) fail('broker did not announce Topic Alias Maximum > 0')

  const steps = [
    ['lab/alias/temperature', '21.5', 0, {}],
    ['lab/alias/temperature', '21.6', 0, {}],
    ['lab/alias/humidity', '48', 1, {}],
    ['lab/alias/temperature', '21.7', 1, {}],
    ['lab/alias/humidity', '49', 0, {}],
    ['lab/alias/pressure', '1013', 0, { properties: { topicAlias: 7 } }],
    ['', '1014', 1, { properties: { topicAlias: 7 } }]
  ]
  for (const [topic, payload, qos, extra] of steps) {
    await client.publishAsync(topic, payload, { qos, ...extra })
    await sleep(120)
  }
  await sleep(200)
  await client.endAsync()
}

main().then(() => process.exit(0), (err) => fail(err.stack || String(err)))
