// Scripted mock WeChat gateway for repe-bot integration tests.
//
// Serves a wechaty-puppet-mock puppet through the Wechaty puppet-service gRPC
// protocol (the same protocol as a production gateway) on 127.0.0.1.
//
//   node server.mjs --port N --token T --scenario scenario.json --record sent.jsonl [--tls]
//
// Protocol on stdout: `READY <port>` once the gRPC server listens, then one
// `ACK <json>` or `ERR <json>` line per stdin command, in command order.
// Commands on stdin, one JSON object per line (`seq` is optional and echoed back):
//   {"cmd":"say","from":"alice","room":"r1@chatroom"|null,"text":"...","mentions":["bob"]}
//   {"cmd":"room_join","room":"r1@chatroom","members":["carol"|{"id":"carol","name":"Carol"}],"inviter":"alice"}
//   {"cmd":"room_leave","room":"r1@chatroom","members":["carol"],"remover":"alice"}
//   {"cmd":"restart","down_ms":0}   stop the gRPC server and the puppet, wait down_ms, listen again
//   {"cmd":"quit"}
// End of stdin counts as quit, so the process never outlives its parent's pipe.
//
// Every messageSendText call is appended to the --record file as one JSON line:
//   {"conversation_id","text","mention_ids","time_ms","message_id"}
//
// Scenario file (ids of rooms contain "@", ids of contacts do not):
//   {"self": {"id": "bot", "name": "..."},
//    "contacts": [{"id": "alice", "name": "..."}],
//    "rooms": [{"id": "r1@chatroom", "topic": "...", "members": ["alice"], "owner": "alice"}],
//    "script": [{"after_ms": 500, "from": "alice", "room": "r1@chatroom", "text": "..."}]}
// The bot account joins every room. Script steps run after each login.

import { randomUUID } from 'node:crypto'
import fs from 'node:fs'
import readline from 'node:readline'
import { parseArgs } from 'node:util'

import { log } from 'wechaty-puppet'
import { PuppetServer } from 'wechaty-puppet-service'
import { PuppetMock, mock } from 'wechaty-puppet-mock'

const HOST = '127.0.0.1'

// Exit code 2 is a usage or scenario error, and 3 means the port could not be bound.
function fail (message, exitCode = 2) {
  process.stderr.write(`gateway harness: ${message}\n`)
  process.exit(exitCode)
}

function writeLine (line) {
  process.stdout.write(line + '\n')
}

// ---------------------------------------------------------------- arguments

const { values: args } = parseArgs({
  options: {
    port: { type: 'string' },
    token: { type: 'string' },
    scenario: { type: 'string' },
    record: { type: 'string' },
    tls: { type: 'boolean', default: false },
  },
})

for (const name of ['port', 'token', 'scenario', 'record']) {
  if (!args[name]) {
    fail(`missing required option --${name}`)
  }
}
const port = Number(args.port)
if (!Number.isInteger(port) || port <= 0 || port > 65535) {
  fail(`invalid --port ${JSON.stringify(args.port)}: expected an integer in 1..65535`)
}

// brolog writes info and lower to stdout, which carries the control protocol.
log.level(process.env.WECHATY_LOG || 'warn')

// ---------------------------------------------------------------- scenario

function loadScenario (file) {
  let scenario
  try {
    scenario = JSON.parse(fs.readFileSync(file, 'utf8'))
  } catch (e) {
    fail(`cannot read scenario ${file}: ${e.message}`)
  }
  if (!scenario.self || typeof scenario.self.id !== 'string') {
    fail('scenario is missing "self": {"id": ..., "name": ...}')
  }
  scenario.contacts = scenario.contacts || []
  scenario.rooms = scenario.rooms || []
  scenario.script = scenario.script || []

  // wechaty-puppet-mock routes a conversation id to a room when it contains "@"
  // and to a contact otherwise, so ids on the wrong side would be misrouted.
  for (const contact of [scenario.self, ...scenario.contacts]) {
    if (contact.id.includes('@')) {
      fail(`invalid contact id ${JSON.stringify(contact.id)}: contact ids must not contain "@"`)
    }
  }
  for (const room of scenario.rooms) {
    if (typeof room.id !== 'string' || !room.id.includes('@')) {
      fail(`invalid room id ${JSON.stringify(room.id)}: room ids must contain "@", e.g. "r1@chatroom"`)
    }
  }
  return scenario
}

const scenario = loadScenario(args.scenario)
const selfId = scenario.self.id

// ---------------------------------------------------------------- puppet

// The default payload generator fills avatars with remote URLs. Empty strings
// keep every client from trying to fetch anything.
function contactPayload (contact) {
  return {
    id: contact.id,
    name: contact.name ?? contact.id,
    alias: contact.alias,
    avatar: '',
    friend: true,
    type: 1, // PUPPET.types.Contact.Individual
    gender: 0,
    phone: [],
  }
}

const mocker = new mock.Mocker()

class RecordingPuppetMock extends PuppetMock {
  // PuppetMock.messageSendText ignores mentions and returns no message id, so
  // the Python client would get an empty id back and fail to load the message.
  async messageSendText (conversationId, text, mentionIdList = []) {
    if (!this.isLoggedIn) {
      throw new Error('cannot send: the mock account is not logged in')
    }
    const messageId = createMessage({
      talkerId: this.currentUserId,
      conversationId,
      text,
      mentionIdList,
    })
    const entry = {
      conversation_id: conversationId,
      text,
      mention_ids: mentionIdList,
      time_ms: Date.now(),
      message_id: messageId,
    }
    fs.appendFileSync(args.record, JSON.stringify(entry) + '\n')
    return messageId
  }
}

const puppet = new RecordingPuppetMock({ mocker })

// The puppet-service EventStreamManager adds one 'message' listener to the
// puppet while a client's event stream is attached. A message emitted while no
// stream is attached never reaches any client.
const messageListenersWithoutClient = puppet.listenerCount('message')
function eventStreamAttached () {
  return puppet.listenerCount('message') > messageListenersWithoutClient
}

// Contacts and rooms live as long as the process. The mocker keeps them across
// puppet restarts, and creating one twice throws.
const contacts = new Map()
function ensureContact (spec) {
  const id = typeof spec === 'string' ? spec : spec.id
  if (contacts.has(id)) {
    return contacts.get(id)
  }
  if (typeof spec === 'string') {
    throw new Error(`unknown contact id ${JSON.stringify(id)}`)
  }
  if (id.includes('@')) {
    throw new Error(`invalid contact id ${JSON.stringify(id)}: contact ids must not contain "@"`)
  }
  const contact = mocker.createContact(contactPayload(spec))
  contacts.set(id, contact)
  return contact
}

function loadRoom (roomId) {
  try {
    return mocker.RoomMock.load(roomId)
  } catch {
    throw new Error(`unknown room id ${JSON.stringify(roomId)}`)
  }
}

ensureContact(scenario.self)
for (const contact of scenario.contacts) {
  ensureContact(contact)
}
for (const room of scenario.rooms) {
  const members = room.members || []
  for (const memberId of members) {
    ensureContact(memberId)
  }
  mocker.createRoom({
    id: room.id,
    topic: room.topic ?? room.id,
    avatar: '',
    ownerId: room.owner,
    adminIdList: room.admins || [],
    memberIdList: members.includes(selfId) ? [...members] : [selfId, ...members],
  })
}

function createMessage ({ talkerId, conversationId, text, mentionIdList }) {
  // python-wechaty drops a message whose id it has seen before in the same
  // Python process, so ids must stay unique across gateway processes too.
  const id = `msg-${randomUUID()}`
  const payload = {
    id,
    talkerId,
    text,
    timestamp: Date.now(),
    type: 7, // PUPPET.types.Message.Text
  }
  if (conversationId.includes('@')) {
    loadRoom(conversationId)
    payload.roomId = conversationId
    payload.mentionIdList = mentionIdList
  } else {
    ensureContact(conversationId)
    payload.listenerId = conversationId
  }
  mocker.MessageMock.create(payload)
  puppet.emit('message', { messageId: id })
  return id
}

// The Python client calls stop() and then start() on the gateway puppet every
// time it connects, and the mocker runs its behaviours again on each start.
// So login and the scripted messages belong here, not in the setup above.
// The client opens its event stream only after start() returns, so the
// script's after_ms counts from the moment that stream is attached.
mocker.use(function scriptedLogin (m) {
  m.login(ensureContact(selfId))
  const timers = []
  const poll = setInterval(() => {
    if (!eventStreamAttached()) {
      return
    }
    clearInterval(poll)
    for (const step of scenario.script) {
      timers.push(setTimeout(() => {
        try {
          say(step)
        } catch (e) {
          process.stderr.write(`gateway harness: scripted message failed: ${e.message}\n`)
        }
      }, step.after_ms ?? 0))
    }
  }, 10)
  return () => {
    clearInterval(poll)
    timers.forEach(clearTimeout)
  }
})

// ---------------------------------------------------------------- server

let server

async function startServer () {
  server = new PuppetServer({
    endpoint: `${HOST}:${port}`,
    puppet,
    token: args.token,
    // An explicit boolean overrides WECHATY_PUPPET_SERVICE_NO_TLS_INSECURE_SERVER.
    // With TLS on, the package's built-in self-signed certificate is used.
    tls: { disable: !args.tls },
  })
  await server.start()
}

async function stopServer () {
  if (server) {
    await server.stop()
    server = undefined
  }
  // Returns at once when no client has started the puppet.
  await puppet.stop()
}

// ---------------------------------------------------------------- commands

function say ({ from, room = null, to = null, text, mentions = [] }) {
  if (typeof from !== 'string') {
    throw new Error('"from" must be a contact id')
  }
  if (typeof text !== 'string') {
    throw new Error('"text" must be a string')
  }
  if (!puppet.isLoggedIn) {
    throw new Error('the mock account is not logged in: no client has started the puppet yet')
  }
  if (!eventStreamAttached()) {
    throw new Error('no client event stream is attached, so the message would be lost')
  }
  ensureContact(from)
  for (const id of mentions) {
    ensureContact(id)
  }
  return createMessage({
    talkerId: from,
    conversationId: room ?? to ?? selfId,
    text,
    mentionIdList: mentions,
  })
}

const commands = {
  say: async command => ({ id: say(command) }),

  room_join: async ({ room, members = [], inviter }) => {
    const roomMock = loadRoom(room)
    const invitees = members.map(ensureContact)
    roomMock.add(...invitees).by(ensureContact(inviter ?? selfId))
    return {}
  },

  room_leave: async ({ room, members = [], remover }) => {
    const roomMock = loadRoom(room)
    const leavers = members.map(ensureContact)
    roomMock.remove(...leavers).by(ensureContact(remover ?? selfId))
    return {}
  },

  restart: async ({ down_ms: downMs = 0 }) => {
    await stopServer()
    await new Promise(resolve => setTimeout(resolve, downMs))
    await startServer()
    return { port }
  },

  quit: async () => {
    await stopServer()
    return {}
  },
}

async function handleLine (line) {
  if (!line.trim()) {
    return
  }
  let command
  try {
    command = JSON.parse(line)
  } catch (e) {
    writeLine('ERR ' + JSON.stringify({ error: `invalid JSON command: ${e.message}` }))
    return
  }
  const handler = commands[command.cmd]
  if (!handler) {
    writeLine('ERR ' + JSON.stringify({ cmd: command.cmd, seq: command.seq, error: `unknown command ${JSON.stringify(command.cmd)}` }))
    return
  }
  try {
    const result = await handler(command)
    writeLine('ACK ' + JSON.stringify({ cmd: command.cmd, seq: command.seq, ...result }))
  } catch (e) {
    writeLine('ERR ' + JSON.stringify({ cmd: command.cmd, seq: command.seq, error: e.message }))
  }
  if (command.cmd === 'quit') {
    process.exit(0)
  }
}

async function main () {
  fs.writeFileSync(args.record, '')
  try {
    await startServer()
  } catch (e) {
    fail(`cannot listen on ${HOST}:${port}: ${e.message}`, 3)
  }
  writeLine(`READY ${port}`)

  // Commands run one at a time so that acks come back in command order.
  let queue = Promise.resolve()
  const input = readline.createInterface({ input: process.stdin })
  input.on('line', line => {
    queue = queue.then(() => handleLine(line))
  })
  input.on('close', () => {
    queue.then(() => handleLine('{"cmd":"quit"}'))
  })
}

for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => process.exit(0))
}

main()
