// Read clickgate's topics back from the real broker (kafkajs), for the acceptance tests.
import { randomUUID } from 'node:crypto';
import kafkajs from 'kafkajs';
import lz4 from 'lz4js';

const { CompressionCodecs, CompressionTypes, Kafka, logLevel } = kafkajs;

// kafkajs reads only gzip out of the box; clickgate's producer may compress with LZ4 (frame format).
// Reading is all the tests need, so only decompression is provided.
CompressionCodecs[CompressionTypes.LZ4] = () => ({
  async compress() {
    throw new Error('LZ4 compression is not needed by the tests');
  },
  async decompress(buffer) {
    return Buffer.from(lz4.decompress(buffer));
  },
});

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function decode(topic, partition, message) {
  const text = message.value === null ? null : message.value.toString('utf8');
  let value = text;
  try {
    value = text === null ? null : JSON.parse(text);
  } catch {
    // keep the text: a test asserting on it will show what was there
  }
  const headers = {};
  for (const [name, raw] of Object.entries(message.headers ?? {})) {
    headers[name] = raw === undefined || raw === null ? null : raw.toString('utf8');
  }
  return {
    topic,
    partition,
    offset: Number(message.offset),
    key: message.key === null ? null : message.key.toString('utf8'),
    value,
    text,
    headers,
  };
}

/**
 * Read `topic` from the beginning and return every record that `match`es. Reads until at least
 * `expected` matching records were seen AND every partition was read up to its current high
 * watermark (so duplicates already in the log come back too), or until `timeoutMs` passes.
 * With `expected = 0` it returns exactly what is in the log now.
 */
export async function readUntil({ bootstrap, topic, match, expected, timeoutMs = 30_000 }) {
  const kafka = new Kafka({
    clientId: 'clickgate-clients-test',
    brokers: bootstrap.split(','),
    logLevel: logLevel.ERROR,
  });
  const admin = kafka.admin();
  // A short fetch wait: the default (5 s) makes every disconnect wait for an idle fetch to return.
  const consumer = kafka.consumer({ groupId: `clickgate-clients-test-${randomUUID()}`, maxWaitTimeInMs: 100 });
  const nextOffset = new Map();
  const matches = [];
  let crash = null;
  consumer.on(consumer.events.CRASH, (event) => {
    crash = event.payload.error;
  });
  await admin.connect();
  try {
    const initial = await admin.fetchTopicOffsets(topic);
    for (const { partition } of initial) nextOffset.set(partition, 0);
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ topic: t, partition, message }) => {
        nextOffset.set(partition, Number(message.offset) + 1);
        const record = decode(t, partition, message);
        if (match(record)) matches.push(record);
      },
    });
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (crash) throw new Error(`reading ${topic} failed: ${crash.message}`);
      const highs = await admin.fetchTopicOffsets(topic);
      const caughtUp = highs.every(({ partition, high }) => (nextOffset.get(partition) ?? 0) >= Number(high));
      if ((caughtUp && matches.length >= expected) || Date.now() > deadline) break;
      await sleep(200);
    }
    return [...matches];
  } finally {
    await consumer.disconnect().catch(() => {});
    await admin.disconnect().catch(() => {});
  }
}
