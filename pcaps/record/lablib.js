'use strict'
// Small helpers shared by the mqtt.js scenario scripts.

function sleep (ms) {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

function fail (message) {
  console.error(`FAILED: ${message}`)
  process.exit(1)
}

module.exports = { sleep, fail }
